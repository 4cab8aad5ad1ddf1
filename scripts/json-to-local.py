#!/usr/bin/env python3
"""Writes a copy of a Docker containers tree (json-file logs, e.g. from gen-containers.py) as the `local` logging
driver stores the same lines: <root>/<id>/local-logs/container.log (each entry a 4-byte big-endian length, a
protobuf LogEntry, the length again), hostconfig.json naming the driver, config.v2.json copied.

    json-to-local.py SOURCE_ROOT DEST_ROOT
"""
import calendar, json, os, re, shutil, struct, sys

def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)

def field(n, b):
    return bytes([n << 3 | 2]) + varint(len(b)) + b

TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z")

def nanos(t):
    m = TIME.fullmatch(t)
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    frac = (m.group(7) or "").ljust(9, "0")[:9]
    return calendar.timegm((y, mo, d, h, mi, s)) * 1_000_000_000 + int(frac)

def entry(source, time_nano, line, partial=None):
    m = field(1, source.encode()) + bytes([2 << 3]) + varint(time_nano)
    if line:
        m += field(3, line)
    if partial is not None:
        last, pid, ordinal = partial
        meta = (bytes([1 << 3, 1]) if last else b"") + field(2, pid.encode()) + bytes([3 << 3]) + varint(ordinal)
        m += bytes([4 << 3, 1]) + field(5, meta)
    n = struct.pack(">I", len(m))
    return n + m + n

def convert(src, dst):
    for cid in sorted(os.listdir(src)):
        d = os.path.join(src, cid)
        log = os.path.join(d, cid + "-json.log")
        if not os.path.isfile(log):
            continue
        out = os.path.join(dst, cid)
        os.makedirs(os.path.join(out, "local-logs"), exist_ok=True)
        shutil.copy(os.path.join(d, "config.v2.json"), out)
        with open(os.path.join(out, "hostconfig.json"), "w") as f:
            json.dump({"LogConfig": {"Type": "local", "Config": {}}}, f)
        open_msgs = {}
        with open(log, encoding="utf-8") as f, open(os.path.join(out, "local-logs", "container.log"), "wb") as w:
            for text in f:
                doc = json.loads(text)
                stream, body = doc["stream"], doc["log"].encode()
                t = nanos(doc["time"])
                if body.endswith(b"\n"):
                    if stream in open_msgs:
                        first, pid, ordinal = open_msgs.pop(stream)
                        w.write(entry(stream, first, body[:-1], (True, pid, ordinal + 1)))
                    else:
                        w.write(entry(stream, t, body[:-1]))
                else:
                    first, pid, ordinal = open_msgs.get(stream, (t, f"{cid[:8]}{t}", 0))
                    w.write(entry(stream, first, body, (False, pid, ordinal + 1)))
                    open_msgs[stream] = (first, pid, ordinal + 1)

if __name__ == "__main__":
    convert(sys.argv[1], sys.argv[2])
