#!/usr/bin/env python3
"""Writes a Docker-like containers tree of json-file logs in shapes other than gen-containers.py's, one shape per
container (cycling): tiny lines, applications logging JSON (every quote escaped again by Docker), multi-line
stack traces, long hex/base64 dumps, non-Latin text and emoji, ANSI colour codes (\\u001b escapes), logfmt.

    gen-mixed.py ROOT [--containers N] [--bytes TOTAL] [--seed S]

MIXED_SHAPES=tiny,stack picks shapes by their function names. For benchmarks on data not shaped like the project's own generator (scripts/bench.sh: GENERATOR=scripts/gen-mixed.py).
"""
import argparse, base64, hashlib, json, os, random

WORDS = ("ok done start stop retry sync flush read write open close send recv poll tick ack nack "
         "queue batch frame packet sensor gateway edge module route twin").split()
CJK = "温度传感器数据已发送到云端设备连接断开重新连接成功失敗しました再試行します"
EMOJI = "✅⚠️🔥📦🚀❌🌡️🔌"


def tiny(rng, t):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5))), "stdout"


def app_json(rng, t):
    doc = {"level": rng.choice(["info", "info", "debug", "warn", "error"]), "ts": t, "logger": "svc.handler",
           "msg": rng.choice(["request handled", "cache miss", "upstream slow", "retrying"]),
           "path": "/api/v1/devices/%d/telemetry" % rng.randint(1, 9999), "status": rng.choice([200, 200, 204, 429, 500]),
           "latency_ms": round(rng.uniform(0.1, 900), 3), "trace_id": "%032x" % rng.getrandbits(128),
           "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 4))]}
    return json.dumps(doc), "stdout"


def stack(rng, t):
    frames = rng.randint(4, 30)
    lines = ["Exception in thread \"worker-%d\" java.lang.IllegalStateException: %s" % (rng.randint(1, 64), rng.choice(WORDS))]
    for _ in range(frames):
        lines.append("\tat com.example.edge.%s.%s(%s.java:%d)" % (rng.choice(WORDS).capitalize(), rng.choice(WORDS),
                                                                  rng.choice(WORDS).capitalize(), rng.randint(1, 2000)))
    return rng.choice(lines), "stderr"


def dump(rng, t):
    raw = rng.randbytes(rng.randint(300, 6000))
    text = raw.hex() if rng.random() < 0.5 else base64.b64encode(raw).decode()
    return "payload=" + text, "stdout"


def unicode_text(rng, t):
    n = rng.randint(5, 60)
    return "".join(rng.choice(CJK) for _ in range(n)) + " " + rng.choice(EMOJI) + " value=%d" % rng.randint(0, 10**6), "stdout"


def ansi(rng, t):
    colour = rng.choice(["\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[1;34m"])
    return "%s%s\x1b[0m %s %s" % (colour, rng.choice(["INFO", "WARN", "ERROR", "DEBUG"]), t[11:23],
                                   " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))), "stdout"


def logfmt(rng, t):
    return "time=%s level=%s component=%s device=dev-%04d msg=\"%s\" elapsed=%.4fs bytes=%d" % (
        t, rng.choice(["info", "warn", "error"]), rng.choice(WORDS), rng.randint(0, 9999),
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))), rng.uniform(0, 3), rng.randint(0, 10**7)), "stdout"


SHAPES = [tiny, app_json, stack, dump, unicode_text, ansi, logfmt]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--containers", type=int, default=7)
    ap.add_argument("--bytes", type=int, default=7_000_000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    # MIXED_SHAPES=tiny,stack: only those shapes (one shape alone shows where the time goes).
    chosen = [n for n in os.environ.get("MIXED_SHAPES", "").split(",") if n]
    shapes = [s for s in SHAPES if not chosen or s.__name__ in chosen]
    per = a.bytes // a.containers
    total = 0
    for c in range(a.containers):
        cid = hashlib.sha256(f"mixed-{a.seed}-{c}".encode()).hexdigest()
        d = os.path.join(a.root, cid)
        os.makedirs(d, exist_ok=True)
        shape = shapes[c % len(shapes)]
        name = f"{shape.__name__.replace('_', '')}{c}"
        with open(os.path.join(d, "config.v2.json"), "w") as f:
            json.dump({"ID": cid, "Name": "/" + name, "Config": {"Image": f"example/{name}:2", "Labels": {}},
                       "State": {"StartedAt": "2026-12-01T00:00:00.000000000Z"}}, f)
        written, sec, buf = 0, 1796000000.0 + c, []
        with open(os.path.join(d, cid + "-json.log"), "w", encoding="utf-8") as f:
            while written < per:
                sec += rng.uniform(0.0001, 0.05)
                t = "2026-12-01T%02d:%02d:%02d.%09dZ" % ((sec // 3600) % 24, (sec // 60) % 60, int(sec) % 60, int((sec % 1) * 1e9))
                msg, stream = shape(rng, t)
                s = json.dumps({"log": msg + "\n", "stream": stream, "time": t}, ensure_ascii=False) + "\n"
                buf.append(s)
                written += len(s.encode())
                total += 1
                if len(buf) >= 4096:
                    f.write("".join(buf))
                    buf = []
            f.write("".join(buf))
    print(f"{a.containers} containers, {total} lines, about {a.bytes} bytes under {a.root}")


if __name__ == "__main__":
    main()
