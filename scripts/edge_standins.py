"""An IoT Edge device's surroundings for running the edgelog module on loopback, written from the documented
contracts (docs/twin.md): the workload API on a unix socket (sign, trust bundle) and IoT Hub's side of the
module twin and direct methods as a client of an MQTT broker (mosquitto with TLS plays edgeHub's MQTT head).
Used by scripts/module-run.py. Needs paho-mqtt (Debian: python3-paho-mqtt).
"""
import base64
import hashlib
import hmac
import json
import os
import socketserver
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

import paho.mqtt.client as mqtt


def merge_patch(target, patch):
    """RFC 7396: objects merge key by key, null removes."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class WorkloadAPI:
    """`POST /modules/{module}/genid/{generation}/sign` (HMAC-SHA256 with the module's key; the data must be
    `urlencode(resource uri)\\n<expiry>` for this module's resource) and `GET /trust-bundle`, on a unix socket.
    Records what it signed."""

    API_VERSIONS = {"2019-01-30", "2020-07-07", "2022-08-03"}

    def __init__(self, socket_path, hub, device, module, generation, key, trust_pem):
        self.socket_path, self.hub, self.device, self.module, self.generation = socket_path, hub, device, module, generation
        self.key, self.trust_pem = key, trust_pem
        self.signed, self.refused, self.trust_bundles = [], [], 0
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def address_string(self):
                return "workload-client"

            def log_message(self, *args):
                pass

            def reply(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if url.path == "/trust-bundle" and query.get("api-version", [""])[0] in api.API_VERSIONS:
                    with api.lock:
                        api.trust_bundles += 1
                    return self.reply(200, {"certificate": api.trust_pem})
                return self.reply(404, {"message": f"no route {url.path}"})

            def do_POST(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = f"/modules/{api.module}/genid/{api.generation}/sign"
                if url.path != expected or query.get("api-version", [""])[0] not in api.API_VERSIONS:
                    return self.reply(404, {"message": f"no route {url.path}"})
                try:
                    doc = json.loads(body)
                    data = base64.b64decode(doc["data"], validate=True)
                    assert doc.get("keyId") == "primary" and doc.get("algo") == "HMACSHA256"
                except Exception as e:  # noqa: BLE001 - any malformed request is a 400
                    return self.reply(400, {"message": f"bad sign request: {e}"})
                resource = f"{api.hub}/devices/{api.device}/modules/{api.module}"
                uri, _, expiry = data.decode("utf-8", "replace").partition("\n")
                if urllib.parse.unquote(uri).lower() != resource.lower() or not expiry.isdigit():
                    with api.lock:
                        api.refused.append(data)
                    return self.reply(400, {"message": "the data to sign is not urlencode(resource)\\n<expiry>"})
                digest = base64.b64encode(hmac.new(api.key, data, hashlib.sha256).digest()).decode()
                with api.lock:
                    api.signed.append(data.decode())
                return self.reply(200, {"digest": digest})

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        if os.path.exists(socket_path):
            os.unlink(socket_path)
        self.server = Server(socket_path, Handler)
        os.chmod(socket_path, 0o666)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HubPeer:
    """IoT Hub's side of the twin: answers twin GET (`res/200` with desired and reported) and reported PATCH
    (`res/204`, merged into reported), pushes desired patches with increasing `$version`, calls direct methods."""

    def __init__(self, port, ca_file, desired, host="localhost"):
        self.lock = threading.Condition()
        self.desired = merge_patch(desired, {"$version": 1})
        self.reported = {}
        self.gets = 0
        self.reported_patches = 0
        self.method_answers = {}
        self.next_rid = 1
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id="iothub-peer", protocol=mqtt.MQTTv311)
        else:
            self.client = mqtt.Client(client_id="iothub-peer", protocol=mqtt.MQTTv311)
        self.client.tls_set(ca_certs=ca_file)
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(15):
            raise RuntimeError("the hub peer could not subscribe at the broker")

    def _connected(self, client, userdata, flags, rc):
        client.subscribe([("$iothub/twin/GET/#", 1), ("$iothub/twin/PATCH/properties/reported/#", 1), ("$iothub/methods/res/#", 1)])

    @staticmethod
    def split(topic):
        path, _, query = topic.partition("?")
        return path, dict(p.split("=", 1) for p in query.split("&") if "=" in p)

    def _message(self, client, userdata, message):
        path, query = self.split(message.topic)
        rid = query.get("$rid", "")
        if path.startswith("$iothub/twin/GET"):
            with self.lock:
                self.gets += 1
                doc = {"desired": self.desired, "reported": self.reported}
            client.publish(f"$iothub/twin/res/200/?$rid={rid}", json.dumps(doc), qos=1)
        elif path.startswith("$iothub/twin/PATCH/properties/reported"):
            try:
                patch = json.loads(message.payload)
            except ValueError:
                client.publish(f"$iothub/twin/res/400/?$rid={rid}", b"", qos=1)
                return
            with self.lock:
                self.reported = merge_patch(self.reported, patch)
                self.reported_patches += 1
                version = self.reported_patches + 1
                self.lock.notify_all()
            client.publish(f"$iothub/twin/res/204/?$rid={rid}&$version={version}", b"", qos=1)
        elif path.startswith("$iothub/methods/res/"):
            status = int(path[len("$iothub/methods/res/"):].split("/")[0] or 0)
            try:
                payload = json.loads(message.payload) if message.payload else None
            except ValueError:
                payload = message.payload.decode("utf-8", "replace")
            with self.lock:
                self.method_answers[rid] = (status, payload)
                self.lock.notify_all()

    def push_desired(self, patch):
        """Merges `patch` into desired, bumps `$version` and publishes the patch; returns the version."""
        with self.lock:
            version = self.desired.get("$version", 1) + 1
            self.desired = merge_patch(merge_patch(self.desired, patch), {"$version": version})
        body = merge_patch(patch, {"$version": version})
        self.client.publish(f"$iothub/twin/PATCH/properties/desired/?$version={version}", json.dumps(body), qos=1)
        return version

    def call(self, name, payload=None, timeout=30):
        """Calls a direct method; returns (status, payload)."""
        with self.lock:
            rid = f"m{self.next_rid}"
            self.next_rid += 1
        self.client.publish(f"$iothub/methods/POST/{name}/?$rid={rid}", json.dumps(payload or {}), qos=1)
        deadline = time.monotonic() + timeout
        with self.lock:
            while rid not in self.method_answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer to the direct method {name} within {timeout} s")
                self.lock.wait(left)
            return self.method_answers[rid]

    def wait_reported(self, predicate, timeout):
        """Waits until predicate(reported) holds; returns reported."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate(self.reported):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"reported properties did not reach the expected state within {timeout} s: {json.dumps(self.reported)[:2000]}")
                self.lock.wait(min(left, 1))
            return self.reported

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()
