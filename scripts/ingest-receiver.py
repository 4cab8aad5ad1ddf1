#!/usr/bin/env python3
"""A minimal local Logs Ingestion receiver for benchmarks: the Entra token endpoint and the ingest endpoint,
checking the contract's essentials (bearer token, api-version, Content-Type, gzip, at most 1,000,000 bytes
compressed and uncompressed, a JSON array) and answering 204. Counts calls, records and bytes.

    ingest-receiver.py --port-file FILE [--parse] [--records FILE]   # prints nothing; GET /_stats for the counters

--records appends every accepted record to FILE, one JSON object a line (implies --parse).
"""
import argparse, gzip, json, secrets, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIMIT = 1_000_000
lock = threading.Lock()
stats = {"calls": 0, "records": 0, "wireBytes": 0, "plainBytes": 0, "tokens": 0, "rejected": 0}
tokens = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            body = json.dumps(stats).encode()
        self.reply(200, body)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
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
        plain = gzip.decompress(raw) if ok else b""
        ok = ok and len(plain) <= LIMIT and plain[:1] == b"[" and plain[-1:] == b"]"
        records = None
        if ok and args.parse:
            records = json.loads(plain)
            ok = isinstance(records, list) and all(isinstance(r, dict) for r in records)
        with lock:
            if not ok:
                stats["rejected"] += 1
            else:
                stats["calls"] += 1
                stats["wireBytes"] += len(raw)
                stats["plainBytes"] += len(plain)
                # Records are flat objects: every one starts with {"TimeGenerated".
                stats["records"] += plain.count(b'{"TimeGenerated"')
                if records_file is not None:
                    records_file.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
                    records_file.flush()
        self.reply(204 if ok else 400)


ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--parse", action="store_true", help="also parse every body as JSON")
ap.add_argument("--records", help="append every accepted record to this file, one JSON object a line")
args = ap.parse_args()
args.parse = args.parse or args.records is not None
records_file = open(args.records, "a", encoding="utf-8") if args.records else None
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(args.port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
