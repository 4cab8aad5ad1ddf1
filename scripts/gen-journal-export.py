#!/usr/bin/env python3
"""Writes journal export format (what `journalctl -o export` prints and systemd-journal-remote reads) for the
journal benchmark: ENTRIES entries shaped like the IoT Edge daemons' stdout logs, with the ~20 trusted fields
journald adds, and strictly increasing timestamps.

    gen-journal-export.py 1000000 | /lib/systemd/systemd-journal-remote -o /tmp/j/bench.journal -
"""
import random
import sys

UNITS = [
    ("aziot-edged", "/usr/bin/aziot-edged"),
    ("aziot-identityd", "/usr/libexec/aziot-identity-service/aziotd"),
    ("aziot-keyd", "/usr/libexec/aziot-identity-service/aziotd"),
    ("aziot-certd", "/usr/libexec/aziot-identity-service/aziotd"),
    ("aziot-tpmd", "/usr/libexec/aziot-identity-service/aziotd"),
    ("docker", "/usr/bin/dockerd"),
]
TEXTS = [
    "[INFO] - [mgmt] - - - [2026-11-27 18:04:31.123 +00:00] \"GET /modules?api-version=2020-07-07 HTTP/1.1\" 200 OK 1453 \"-\" \"-\" auto-generated",
    "[INFO] - Checking edge runtime status",
    "[WARN] - Could not renew module identity certificate; retrying in 30 seconds",
    "level=info msg=\"ignoring event\" container=4c1d2e3f module=docker namespace=moby topic=/tasks/delete type=\"*events.TaskDelete\"",
    "<6> 2026-11-27 18:04:31.123 +00:00 [INF] - Updated reported properties for device",
]


def main():
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = random.Random(42)
    boot = "0123456789abcdef0123456789abcdef"
    machine = "fedcba9876543210fedcba9876543210"
    realtime = 1_795_802_671_000_000
    monotonic = 10_000_000
    out = sys.stdout.buffer
    buf = []
    for i in range(entries):
        name, exe = UNITS[i % len(UNITS)]
        priority = 3 if i % 97 == 0 else 4 if i % 13 == 0 else 6
        text = TEXTS[rng.randrange(len(TEXTS))]
        unit = name + ".service"
        buf.append(
            f"__REALTIME_TIMESTAMP={realtime}\n__MONOTONIC_TIMESTAMP={monotonic}\n_BOOT_ID={boot}\n"
            f"_TRANSPORT=stdout\n_STREAM_ID={i % 6:032x}\nPRIORITY={priority}\nSYSLOG_FACILITY=3\n"
            f"SYSLOG_IDENTIFIER={name}\n_PID={800 + i % 6}\n_UID=0\n_GID=0\n_COMM={name}\n_EXE={exe}\n"
            f"_CMDLINE={exe}\n_CAP_EFFECTIVE=1ffffffffff\n_SELINUX_CONTEXT=unconfined\n"
            f"_SYSTEMD_CGROUP=/system.slice/{unit}\n_SYSTEMD_UNIT={unit}\n_SYSTEMD_SLICE=system.slice\n"
            f"_SYSTEMD_INVOCATION_ID={i % 6 + 1:032x}\n_MACHINE_ID={machine}\n_HOSTNAME=edge-gateway-01\n"
            f"MESSAGE={text} seq={i}\n\n"
        )
        realtime += rng.randrange(50, 2000)
        monotonic += 1000
        if len(buf) >= 4096:
            out.write("".join(buf).encode())
            buf.clear()
    out.write("".join(buf).encode())


if __name__ == "__main__":
    main()
