"""LRANGE replies framed by hand give exactly what redis-py's parser gives, and leave the connection usable."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from workers import redis_lists

TRICKY = [b"", b"\r\n", b"$5\r\nhello\r\n", b"*2\r\n", b"-ERR not an error\r\n", bytes(range(256)),
          b"x" * (3 * redis_lists._CHUNK + 7)]  # the last one spans several receives


@pytest.fixture(params=[2, 3], ids=["RESP2", "RESP3"])
def client(private_redis, request) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(f"{private_redis.url}/0", protocol=request.param)
    client.flushdb()
    client.rpush("list", *TRICKY, *(f"message {i}".encode() for i in range(5_000)))
    client.set("string", "not a list")
    yield client
    client.flushdb()
    client.close()


def elements(page: redis_lists.Elements) -> list[bytes]:
    return [bytes(page.buffer[start:end]) for start, end in page.spans]


@pytest.mark.parametrize("start, stop", [(0, -1), (0, 3), (3, 9), (-4, -1), (4_990, 6_000), (9_000, 9_100)])
def test_elements_are_those_redis_py_returns(client, monkeypatch, start, stop):
    expected = client.lrange("list", start, stop)
    monkeypatch.setattr(client, "lrange", None)  # framed by hand: no falling back to redis-py's parser
    assert elements(redis_lists.lrange(client, "list", start, stop)) == expected


def test_a_missing_key_is_an_empty_list(client):
    assert redis_lists.lrange(client, "missing", 0, -1).spans == []


def test_an_error_reply_raises_as_redis_py_does_and_the_connection_stays_usable(client):
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        redis_lists.lrange(client, "string", 0, -1)
    assert client.ping() and elements(redis_lists.lrange(client, "list", 0, 1)) == TRICKY[:2]


def test_the_connection_stays_in_step_after_many_replies(client):
    connection = client.client_id()
    for _ in range(3):
        assert len(redis_lists.lrange(client, "list", 0, -1).spans) == len(TRICKY) + 5_000
        assert client.get("string") == b"not a list"  # the next reply on the same pooled connection
    assert client.client_id() == connection  # never dropped and reopened: no reply was left half read


def test_bytes_after_the_reply_are_not_dropped_into_the_next_one(client, monkeypatch):
    read = redis_lists._read_array

    def read_with_a_push_after(sock):
        page, used = read(sock)
        page.buffer.extend(b">2\r\n$4\r\npush\r\n")  # as if a RESP3 push had arrived in the same recv
        return page, used

    monkeypatch.setattr(redis_lists, "_read_array", read_with_a_push_after)
    connection = client.client_id()
    assert elements(redis_lists.lrange(client, "list", 0, 1)) == TRICKY[:2]
    assert client.client_id() != connection  # that connection was closed, not reused with a reply out of step


def test_replies_it_cannot_frame_go_to_redis_py(client, monkeypatch):
    def not_framed(_sock):
        raise redis_lists._NotFramed

    monkeypatch.setattr(redis_lists, "_read_array", not_framed)
    assert elements(redis_lists.lrange(client, "list", 0, -1)) == client.lrange("list", 0, -1)
