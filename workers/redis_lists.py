"""Read a page of a Redis list as one buffer of bytes with each element's (start, end) in it.

redis-py without hiredis builds a reply in Python, one bytes object per element, at about 3.5 µs per Celery
message: most of the sweeper's queue scan. Here an LRANGE reply is received in large chunks straight from the
connection's socket and only framed (one ``find`` per element), so callers search the elements in place.
Anything but a plain array of bulk strings (an error reply, a RESP3 push frame, a connection without a socket)
is left to redis-py's own parser: the result is the same, only slower.
"""
from __future__ import annotations

from itertools import accumulate
from typing import NamedTuple

import redis

_CRLF, _ARRAY, _BULK = b"\r\n", ord("*"), ord("$")
_CHUNK = 1 << 20  # bytes per recv


class Elements(NamedTuple):
    buffer: bytes | bytearray
    spans: list[tuple[int, int]]  # (start, end) of each element in ``buffer``, in list order

    @classmethod
    def joined(cls, items: list[bytes]) -> Elements:
        ends = list(accumulate(map(len, items)))
        return cls(b"".join(items), list(zip([0, *ends], ends)))


class _NotFramed(Exception):
    """The reply is not a plain array of bulk strings."""


def lrange(client: redis.Redis, key: bytes | str, start: int, stop: int) -> Elements:
    """``LRANGE key start stop``, the same elements as ``client.lrange`` returns."""
    try:
        return _lrange_raw(client, key, start, stop)
    except _NotFramed:
        return Elements.joined(client.lrange(key, start, stop))


def _lrange_raw(client: redis.Redis, key: bytes | str, start: int, stop: int) -> Elements:
    pool = client.connection_pool
    conn = pool.get_connection()  # checked by the pool: connected, nothing left unread
    try:
        conn.send_command("LRANGE", key, start, stop)
        sock = getattr(conn, "_sock", None)  # redis-py's own attribute: not every connection class has one
        if sock is None:
            return Elements.joined(conn.read_response())
        page, read = _read_array(sock)
        if read < len(page.buffer):  # bytes after the reply (a RESP3 push) belong to redis-py's parser: start afresh
            conn.disconnect()
        return page
    except BaseException:
        conn.disconnect()  # a reply read in part leaves the connection out of step
        raise
    finally:
        pool.release(conn)


def _read_array(sock) -> tuple[Elements, int]:
    """The reply's elements, and how many bytes of the buffer the reply took."""
    buffer, chunk = bytearray(), bytearray(_CHUNK)
    view = memoryview(chunk)

    def receive() -> None:
        received = sock.recv_into(view)
        if not received:
            raise redis.ConnectionError("Redis closed the connection in the middle of a reply")
        buffer.extend(view[:received])

    while (eol := buffer.find(_CRLF)) < 0:
        receive()
    if buffer[0] != _ARRAY:
        raise _NotFramed
    spans: list[tuple[int, int]] = []
    pos = eol + 2
    for _ in range(int(buffer[1:eol])):
        while (eol := buffer.find(_CRLF, pos)) < 0:
            receive()
        if buffer[pos] != _BULK or (size := int(buffer[pos + 1:eol])) < 0:
            raise _NotFramed
        start = eol + 2
        end = start + size
        while len(buffer) < end + 2:
            receive()
        spans.append((start, end))
        pos = end + 2
    return Elements(buffer, spans), pos
