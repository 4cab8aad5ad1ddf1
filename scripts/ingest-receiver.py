#!/usr/bin/env python3
"""A local Logs Ingestion receiver for benchmarks, the image check and the fleet simulation: the Entra token
endpoint and the ingest endpoint, checking the contract's essentials (bearer token, api-version, Content-Type,
gzip, at most 1,000,000 bytes compressed and uncompressed, a JSON array) and answering 204. Counts calls,
records and bytes.

    ingest-receiver.py --port-file FILE [--parse] [--records FILE]   # prints nothing; GET /_stats for the counters

--records appends every accepted record to FILE, one JSON object a line (implies --parse).

A data collection rule's limits, scaled down (the fleet simulation, scripts/fleet-sim.py):

    --budget-requests-per-min N   at most N accepted calls in any --window-seconds (default 60)
    --budget-bytes-per-min N      at most N uncompressed bytes accepted in any such window

A call past either is answered 429 with Retry-After: the whole seconds until the window has room for it (at
least 1), as the service does past 12,000 requests or 2 GB per minute per rule. Throttled calls are not counted
against the budget. POST /_outage?seconds=N makes every ingest call answer 503 (without Retry-After unless
--outage-retry-after) for N seconds (0 ends an outage). --events FILE appends one line per ingest call:
`unix-time status wire-bytes plain-bytes records device` (device: the ModuleId of the first record up to its
first '-', or '-'). --track REGEX counts, per ModuleId, the distinct sequence numbers the regex's first group
finds in Message (GET /_tracked: {module: [distinct, duplicates]}), so losses and duplicates can be told.
"""
import argparse, collections, gzip, json, math, re, secrets, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIMIT = 1_000_000
lock = threading.Lock()
stats = {"calls": 0, "records": 0, "wireBytes": 0, "plainBytes": 0, "tokens": 0, "rejected": 0}
tokens = set()
window = collections.deque()  # (time, plain bytes) of the calls accepted within the budget window
window_bytes = 0
outage_until = 0.0
tracked = {}  # module -> [bitmap bytearray, distinct, duplicates]
MODULE = re.compile(rb'"ModuleId":"([^"]*)"')


def admit(plain_bytes, now):
    """None if the call fits the budget (and is then counted in it), else the whole seconds to wait."""
    global window_bytes
    reqs, nbytes, span = args.budget_requests_per_min, args.budget_bytes_per_min, args.window_seconds
    if not reqs and not nbytes:
        return None
    while window and window[0][0] <= now - span:
        window_bytes -= window.popleft()[1]
    over_r = reqs and len(window) + 1 > reqs
    over_b = nbytes and window_bytes + plain_bytes > nbytes
    if not over_r and not over_b:
        window.append((now, plain_bytes))
        window_bytes += plain_bytes
        return None
    # Room comes as the oldest calls leave the window.
    left_r, left_b, wait = len(window), window_bytes, span
    for t, b in window:
        left_r -= 1
        left_b -= b
        if (not reqs or left_r + 1 <= reqs) and (not nbytes or left_b + plain_bytes <= nbytes):
            wait = t + span - now
            break
    return max(1, math.ceil(wait))


def track(records):
    pattern = args.track_regex
    for r in records:
        module = r.get("ModuleId", "")
        m = pattern.search(r.get("Message", ""))
        if not m:
            continue
        n = int(m.group(1))
        entry = tracked.setdefault(module, [bytearray(), 0, 0])
        bits = entry[0]
        if n // 8 >= len(bits):
            bits.extend(bytes(max(n // 8 + 1 - len(bits), len(bits))))
        mask = 1 << (n % 8)
        if bits[n // 8] & mask:
            entry[2] += 1
        else:
            bits[n // 8] |= mask
            entry[1] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            if self.path.startswith("/_tracked"):
                body = json.dumps({m: [e[1], e[2]] for m, e in tracked.items()}).encode()
            else:
                body = json.dumps(stats).encode()
        self.reply(200, body)

    def event(self, now, status, wire, plain, records, device):
        if events_file is not None:
            events_file.write(f"{now:.3f} {status} {wire} {plain} {records} {device}\n")

    def do_POST(self):
        global outage_until
        url = urllib.parse.urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if url.path == "/_outage":
            seconds = float(urllib.parse.parse_qs(url.query).get("seconds", ["60"])[0])
            with lock:
                outage_until = time.time() + seconds if seconds > 0 else 0.0
            return self.reply(204)
        if url.path.endswith("/oauth2/v2.0/token"):
            form = urllib.parse.parse_qs(raw.decode())
            if form.get("grant_type") != ["client_credentials"] or "client_secret" not in form:
                return self.reply(400, b'{"error":"invalid_request"}')
            token = secrets.token_urlsafe(24)
            with lock:
                tokens.add(token)
                stats["tokens"] += 1
            return self.reply(200, json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": token}).encode())
        auth = self.headers.get("Authorization", "")
        ok = (url.path.startswith("/dataCollectionRules/") and "api-version=2023-01-01" in url.query
              and auth.startswith("Bearer ") and auth[7:] in tokens
              and self.headers.get("Content-Type", "").startswith("application/json")
              and self.headers.get("Content-Encoding") == "gzip" and len(raw) <= LIMIT)
        try:
            plain = gzip.decompress(raw) if ok else b""
        except Exception:
            ok, plain = False, b""
        ok = ok and len(plain) <= LIMIT and plain[:1] == b"[" and plain[-1:] == b"]"
        records = None
        if ok and args.parse:
            try:
                records = json.loads(plain)
            except ValueError:
                records = None
            ok = isinstance(records, list) and all(isinstance(r, dict) for r in records)
        count = plain.count(b'{"TimeGenerated"') if ok else 0
        device = "-"
        if ok and events_file is not None:
            m = MODULE.search(plain, 0, 4096)
            if m:
                device = m.group(1).split(b"-")[0].decode("utf-8", "replace") or "-"
        now = time.time()
        with lock:
            if not ok:
                stats["rejected"] += 1
                self.event(now, 400, len(raw), len(plain), 0, device)
                status, headers = 400, ()
            elif now < outage_until:
                stats["outage"] = stats.get("outage", 0) + 1
                self.event(now, 503, len(raw), len(plain), count, device)
                status = 503
                headers = (("Retry-After", str(args.outage_retry_after)),) if args.outage_retry_after else ()
            else:
                wait = admit(len(plain), now)
                if wait is not None:
                    stats["throttled"] = stats.get("throttled", 0) + 1
                    self.event(now, 429, len(raw), len(plain), count, device)
                    status, headers = 429, (("Retry-After", str(wait)),)
                else:
                    stats["calls"] += 1
                    stats["wireBytes"] += len(raw)
                    stats["plainBytes"] += len(plain)
                    # Records are flat objects: every one starts with {"TimeGenerated".
                    stats["records"] += count
                    self.event(now, 204, len(raw), len(plain), count, device)
                    if records_file is not None:
                        records_file.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
                        records_file.flush()
                    if args.track_regex is not None:
                        track(records)
                    status, headers = 204, ()
        body = b'{"error":{"code":"TooManyRequests","message":"data collection rule budget exceeded"}}' if status == 429 else b""
        self.reply(status, body, headers)


ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--parse", action="store_true", help="also parse every body as JSON")
ap.add_argument("--records", help="append every accepted record to this file, one JSON object a line")
ap.add_argument("--budget-requests-per-min", type=int, default=0)
ap.add_argument("--budget-bytes-per-min", type=int, default=0, help="uncompressed bytes")
ap.add_argument("--window-seconds", type=float, default=60.0)
ap.add_argument("--outage-retry-after", type=int, default=0, help="Retry-After on the 503s of an outage (0: none)")
ap.add_argument("--events", help="append one line per ingest call to this file")
ap.add_argument("--track", help="regex whose first group is a record's sequence number in Message (implies --parse)")
args = ap.parse_args()
args.track_regex = re.compile(args.track) if args.track else None
args.parse = args.parse or args.records is not None or args.track is not None
records_file = open(args.records, "a", encoding="utf-8") if args.records else None
events_file = open(args.events, "a", buffering=1) if args.events else None
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
server.request_queue_size = 1024
with open(args.port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
