#!/usr/bin/env python3
"""Writes a Docker-like containers tree: <root>/<id>/<id>-json.log and config.v2.json.

Lines look like what IoT Edge modules log: syslog-prefixed levels, JSON payloads, stack traces,
quotes and unicode, and now and then a message over 16 KiB that Docker splits into partial lines.

    gen-containers.py ROOT [--containers N] [--bytes TOTAL] [--seed S]
"""
import argparse, hashlib, json, os, random

MODULES = ["edgeAgent", "edgeHub", "SimulatedTemperatureSensor", "opcpublisher", "modbus", "filtermodule",
           "azureblobstorage", "videoanalyzer", "telemetrysink", "metricscollector"]

def make_line(rng, t):
    kind = rng.random()
    if kind < 0.55:
        lvl = rng.choice([6, 6, 6, 7, 4, 3])
        msg = f"<{lvl}> {t[:10]} {t[11:23]} +00:00 [{rng.choice(['Microsoft.Azure.Devices.Routing.Core', 'EdgeHub', 'Agent'])}] " \
              f"Processed {rng.randint(1, 5000)} messages for device {rng.randint(1, 99)} in {rng.random()*50:.3f} ms\n"
        stream = "stdout"
    elif kind < 0.8:
        payload = {"machine": {"temperature": round(rng.uniform(20, 110), 4), "pressure": round(rng.uniform(1, 10), 5)},
                   "ambient": {"temperature": round(rng.uniform(15, 30), 3), "humidity": rng.randint(20, 30)},
                   "timeCreated": t}
        msg = "Sending message: " + json.dumps(payload) + "\n"
        stream = "stdout"
    elif kind < 0.95:
        msg = f"\tat Module.Handler.Process(Message m) in /src/Handler.cs:line {rng.randint(10, 900)} \"quoted\" ü ✓\n"
        stream = "stderr"
    else:
        msg = f"[error] connection to upstream lost (attempt {rng.randint(1, 9)}): Operation timed out\n"
        stream = "stderr"
    return msg, stream

def docker_lines(msg, stream, t):
    # Docker splits a message into 16 KiB pieces; only the last carries the newline.
    pieces = [msg[i:i + 16384] for i in range(0, len(msg), 16384)] or [msg]
    return "".join(json.dumps({"log": p, "stream": stream, "time": t}, ensure_ascii=False) + "\n" for p in pieces)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--containers", type=int, default=5)
    ap.add_argument("--bytes", type=int, default=2_000_000, help="total size of all logs")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    per = a.bytes // a.containers
    total_lines = 0
    for c in range(a.containers):
        cid = hashlib.sha256(f"{a.seed}-{c}".encode()).hexdigest()
        d = os.path.join(a.root, cid)
        os.makedirs(d, exist_ok=True)
        name = MODULES[c % len(MODULES)] + ("" if c < len(MODULES) else str(c))
        with open(os.path.join(d, "config.v2.json"), "w") as f:
            json.dump({"ID": cid, "Name": "/" + name, "Config": {"Image": f"mcr.microsoft.com/azureiotedge-{name.lower()}:1.5",
                       "Labels": {"net.azure-devices.edge.owner": "Microsoft.Azure.Devices.Edge.Agent",
                                  "net.azure-devices.edge.env": "{\"SECRET\":\"x\"}"}},
                       "State": {"StartedAt": "2026-11-27T10:00:00.000000000Z"}}, f)
        written = 0
        sec = 1795000000 + c
        buf = []
        with open(os.path.join(d, cid + "-json.log"), "w", encoding="utf-8") as f:
            i = 0
            while written < per:
                sec += 0.0137
                t = "2026-11-27T%02d:%02d:%02d.%09dZ" % ((sec // 3600) % 24, (sec // 60) % 60, int(sec) % 60, int((sec % 1) * 1e9))
                if rng.random() < 0.0005:
                    msg, stream = "big payload " + "x" * rng.randint(17000, 40000) + "\n", "stdout"
                else:
                    msg, stream = make_line(rng, t)
                s = docker_lines(msg, stream, t)
                buf.append(s)
                written += len(s.encode())
                i += 1
                if len(buf) >= 4096:
                    f.write("".join(buf)); buf = []
            f.write("".join(buf))
        total_lines += i
    print(f"{a.containers} containers, {total_lines} messages, about {a.bytes} bytes under {a.root}")

if __name__ == "__main__":
    main()
