#!/usr/bin/env python3
"""Helper for scripts/loss-experiment.sh.

    loss-writer.py write FILE [--rate LINES_PER_S] [--result RESULT_FILE]
        Appends numbered Docker json-file lines to FILE, one write(2) per line, with O_APPEND (as dockerd does),
        until SIGTERM/SIGINT; then writes the number of lines written to RESULT_FILE (or stdout).
        --rate 0 (default) writes as fast as it can; otherwise it paces itself to that many lines per second.

    loss-writer.py count DIR BASENAME TOTAL
        Reads BASENAME and every rotated file of it in DIR (x.log.N, x.log.N.gz, x.log-DATE[...][.gz]; gzip ones
        decompressed), and prints one JSON object: lines written, found, missing, duplicated, out of order.
"""
import gzip, json, os, re, signal, sys, time

def write(path, rate, result):
    stop = False
    def on_signal(signum, frame):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    n = 0
    started = time.monotonic()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    while not stop:
        # 1000 lines between clock checks keeps the pacing cheap.
        for _ in range(1000):
            n += 1
            os.write(fd, b'{"log":"seq=%d level=info msg=\\"processed message batch\\" module=loss-writer\\n","stream":"stdout","time":"%s.%09dZ"}\n'
                     % (n, stamp.encode(), n % 1000000000))
        if rate > 0:
            ahead = n / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    os.close(fd)
    elapsed = time.monotonic() - started
    out = json.dumps({"lines": n, "seconds": round(elapsed, 3), "linesPerSecond": round(n / elapsed)})
    if result:
        with open(result, "w") as f:
            f.write(out + "\n")
    else:
        print(out)

SEQ = re.compile(rb'seq=(\d+) ')

def count(directory, base, total):
    rotated = re.compile(re.escape(base) + r'(\.\d+|-\d{8}(\d{2})?(-\d+)?)(\.gz)?$')
    seen = bytearray(total + 1)
    out_of_order = 0
    malformed = 0
    beyond = 0
    files = 0
    for name in sorted(os.listdir(directory)):
        if name != base and not rotated.match(name):
            continue
        files += 1
        path = os.path.join(directory, name)
        opener = gzip.open if name.endswith(".gz") else open
        previous = 0
        with opener(path, "rb") as f:
            for line in f:
                m = SEQ.search(line)
                if not m or not line.endswith(b"\n"):
                    malformed += 1
                    continue
                n = int(m.group(1))
                if n > total:
                    beyond += 1
                    continue
                if n <= previous:
                    out_of_order += 1
                previous = n
                if seen[n] < 255:
                    seen[n] += 1
    missing = seen.count(0) - 1  # index 0 is never written
    duplicated = sum(1 for c in seen if c > 1)
    print(json.dumps({"files": files, "written": total, "found": total - missing, "missing": missing,
                      "duplicated": duplicated, "outOfOrder": out_of_order, "malformed": malformed,
                      "beyondTotal": beyond, "missingPercent": round(100.0 * missing / max(total, 1), 4)}))

def main():
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "write":
        rate = 0.0
        result = None
        rest = args[2:]
        while rest:
            flag = rest.pop(0)
            if flag == "--rate":
                rate = float(rest.pop(0))
            elif flag == "--result":
                result = rest.pop(0)
            else:
                sys.exit(f"unknown option {flag}")
        write(args[1], rate, result)
    elif len(args) == 4 and args[0] == "count":
        count(args[1], args[2], int(args[3]))
    else:
        sys.exit(__doc__)

if __name__ == "__main__":
    main()
