"""Source of the tiny "models" baked into the test images: standard library only (no numpy inside).

`model_script(prelude)` returns a program that runs ``prelude`` (the behaviour under test: probe the
network, sleep, allocate, ...) and then writes valid predictions for every sample of
``/input/manifest.json`` to ``/output/predictions.npz``. An ``.npz`` is a zip of ``.npy`` files, each a
small text header plus raw little-endian data, so the writer below is a few lines.
"""
from __future__ import annotations

NPZ_WRITER = r'''
import json, os, struct, sys, zipfile

PARAMS = {"global_orient": (3,), "body_pose": (21, 3), "left_hand_pose": (15, 3), "right_hand_pose": (15, 3),
          "jaw_pose": (3,), "betas": (10,), "expression": (10,), "transl": (3,)}

def npy(descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, tuple(shape))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + payload

def write_predictions(path, sample_ids):
    n, width = len(sample_ids), max(len(s) for s in sample_ids)
    ids = b"".join(s.ljust(width, "\0").encode("utf-32-le") for s in sample_ids)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("sample_ids.npy", npy("<U%d" % width, (n,), ids))
        for key, shape in PARAMS.items():
            count = n
            for d in shape:
                count *= d
            values = [0.01 * (i % 7) for i in range(count)]
            zf.writestr(key + ".npy", npy("<f4", (n,) + shape, struct.pack("<%df" % count, *values)))

manifest = json.load(open("/input/manifest.json"))
'''

WRITE_VALID = '''
write_predictions("/output/predictions.npz", [s["sample_id"] for s in manifest["samples"]])
print("model: wrote", len(manifest["samples"]), "predictions", flush=True)
'''

REPORT_SANDBOX = '''
print("model: uid", os.getuid(), "gid", os.getgid(), flush=True)
print("model: env", sorted(os.environ), flush=True)
try:
    open("/input/probe", "w")
    print("model: input is WRITABLE", flush=True)
except OSError as exc:
    print("model: input not writable:", exc.strerror, flush=True)
'''

PROBE_NETWORK = '''
import socket
for host, port in (("127.0.0.1", 6379), ("10.88.0.1", 53), ("1.1.1.1", 53)):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
        print("model: CONNECTED to %s:%d" % (host, port), flush=True)
    except OSError as exc:
        print("model: connect %s:%d failed: %s" % (host, port, exc), flush=True)
    finally:
        s.close()
'''

SLEEP_FOREVER = '''
import time
print("model: sleeping", flush=True)
time.sleep(3600)
'''

ALLOCATE_512_MIB = '''
print("model: allocating", flush=True)
block = b"x" * (512 * 1024 * 1024)
print("model: allocated", len(block), flush=True)
'''

GARBAGE_OUTPUT = '''
open("/output/predictions.npz", "wb").write(b"these are not the predictions you are looking for")
raise SystemExit(0)
'''

HUGE_OUTPUT = '''
with open("/output/predictions.npz", "wb") as f:
    for _ in range(64):
        f.write(b"\\0" * (1024 * 1024))
raise SystemExit(0)
'''

CHATTY = '''
for i in range(20000):
    print("model: log line %05d" % i)
print("model: last line", flush=True)
'''


def model_script(prelude: str = "", write_valid: bool = True) -> str:
    return NPZ_WRITER + prelude + (WRITE_VALID if write_valid else "")
