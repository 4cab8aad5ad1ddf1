#!/usr/bin/env python3
"""Runs the edgelog module of a deployment template the way the IoT Edge runtime creates it, against the Docker
engine at DOCKER_HOST (scripts/private-dockerd.sh), with a device's surroundings on loopback, and checks it.

    DOCKER_HOST=unix://… scripts/module-run.py --image edgelog:test [--template deployment.template.json]
                                               [--work DIR] [--siblings 3] [--lines 150000] [--report FILE]

What the runtime does and what this script does in its place (docs/image.md has the details):
- edgeAgent + aziot-edged create the container from the module's `createOptions` as they stand (User, HostConfig:
  Binds, LogConfig, Memory, MemorySwap, NanoCpus, …), the module's `env` merged under the createOptions' `Env`
  with the runtime's variables (IOTEDGE_IOTHUBHOSTNAME, IOTEDGE_DEVICEID, IOTEDGE_MODULEID,
  IOTEDGE_MODULEGENERATIONID, IOTEDGE_GATEWAYHOSTNAME, IOTEDGE_WORKLOADURI, IOTEDGE_AUTHSCHEME,
  IOTEDGE_APIVERSION, RuntimeLogLevel), the labels net.azure-devices.edge.owner and …original-image, and the
  module's workload socket (<homedir>/mnt/edgelog.sock) bound to /var/run/iotedge/workload.sock. This script
  sends the same body to the Engine API's POST /containers/create. Differences, all forced by running on
  loopback beside other work: host paths live under the work folder (the engine's own <data-root>/containers
  plays /var/lib/docker/containers), the container joins the host network (NetworkMode "host") instead of
  azure-iot-edge, edgeHub's MQTT head is mosquitto on a free port (EDGELOG_EDGEHUB_PORT), and the desired
  properties get a site overlay: the logsIngestion sink pointed at a local receiver (secret in a bound file,
  as docs/azure.md says) and metrics on 127.0.0.1 and a free port.
- edgeAgent restarts a module itself according to `restartPolicy` (Docker's own restart policy stays unset);
  here the script stops and starts the container.
- IoT Hub's twin and direct methods: a hub peer through mosquitto with TLS; the workload API: a unix socket
  server signing with a known key (scripts/edge_standins.py); Logs Ingestion: scripts/ingest-receiver.py.

Then sibling containers (busybox, --network none) write numbered lines at full speed, a journal file gets
entries of the followed units, and the script checks: /healthz and Docker's HEALTHCHECK healthy; the twin
applied and reported; a direct method; rotation (the template's policy: rotateNow for a daily schedule, the
size trigger where the template has maxSize); `docker stop` mid-stream ends with exit 0 and the log line saying
the checkpoints are committed; `docker start` resumes from the checkpoints; every sibling line and journal entry
delivered exactly once; EdgeLog's own log lines in the IoT Edge `<6> …` format; the memory limit applied by
the engine (cgroup) and the peak under it. Figures go to --report (JSON) and stdout. Exit 0 when every check
passed. Needs root, docker.io, busybox-static, mosquitto, openssl, systemd-journal-remote and paho-mqtt.
"""
import argparse
import copy
import glob
import gzip
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from edge_standins import HubPeer, WorkloadAPI, merge_patch  # noqa: E402

HUB = "edgelog-test-hub.azure-devices.net"
DEVICE = "edge-device-1"
MODULE = "edgelog"
GENERATION = "638000000000000001"
API_VERSION = "2022-08-03"  # what aziot-edged 1.5 gives edgeAgent, and edgeAgent the modules
FIXTURE_IMAGE = "edgelog-fixture:busybox"
TENANT = "00000000-0000-0000-0000-0000000000aa"
CLIENT_ID = "00000000-0000-0000-0000-0000000000bb"
DCR = "dcr-" + "0123456789abcdef" * 2
LOG_LINE = re.compile(r"^<[0-7]> \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d \S")


def now():
    return time.monotonic()


def say(message):
    print(f"module-run: {message}", flush=True)


class CheckFailed(Exception):
    pass


def eventually(what, condition, timeout, interval=0.25):
    deadline = now() + timeout
    while True:
        value = condition()
        if value:
            return value
        if now() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


class Engine:
    """The Engine API over the unix socket DOCKER_HOST names, and the CLI for the rest."""

    def __init__(self):
        host = os.environ.get("DOCKER_HOST", "")
        if not host.startswith("unix://"):
            sys.exit("module-run: set DOCKER_HOST=unix://… (scripts/private-dockerd.sh prints it)")
        self.socket = host[len("unix://"):]

    def api(self, method, path, body=None):
        class Conn(http.client.HTTPConnection):
            def connect(conn):
                conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.sock.connect(self.socket)

        c = Conn("docker", timeout=60)
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, "/v1.41" + path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)

    def cli(self, *args, check=True, input=None):
        p = subprocess.run(["docker", *args], capture_output=True, text=True, input=input)
        if check and p.returncode != 0:
            raise CheckFailed(f"docker {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
        return p

    def inspect(self, name):
        status, doc = self.api("GET", f"/containers/{name}/json")
        if status != 200:
            raise CheckFailed(f"inspect {name}: HTTP {status} {doc}")
        return doc


class Run:
    def __init__(self, args):
        self.args = args
        self.engine = Engine()
        self.work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="edgelog-module-"))
        self.host = os.path.join(self.work, "host")
        self.checks = []  # (name, ok, detail)
        self.figures = {}
        self.processes = []
        self.hub = None
        self.workload = None
        self.template = json.load(open(args.template))
        modules = self.template["modulesContent"]
        self.agent_module = modules["$edgeAgent"]["properties.desired"]["modules"][MODULE]
        self.desired_template = modules[MODULE]["properties.desired"]
        create = self.agent_module["settings"]["createOptions"]
        self.create_options = json.loads(create) if isinstance(create, str) else copy.deepcopy(create)
        self.samples = {"usage": 0, "rss": 0}
        self.sampling = False

    # ---- checks and figures

    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))
        say(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        return ok

    def figure(self, name, value):
        self.figures[name] = value

    # ---- surroundings

    def host_path(self, path):
        """Where a host path of the template lives here."""
        if path == "/var/lib/docker/containers" or path.startswith("/var/lib/docker/containers/"):
            return self.containers_dir + path[len("/var/lib/docker/containers"):]
        return self.host + path

    def certificates(self):
        d = os.path.join(self.work, "certs")
        os.makedirs(d, exist_ok=True)
        self.ca_file = os.path.join(d, "ca.pem")

        def openssl(*a):
            subprocess.run(["openssl", *a], check=True, capture_output=True)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/ca.key", "-out", self.ca_file,
                "-days", "2", "-subj", "/CN=EdgeLog test edge CA")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/hub.key", "-out", d + "/hub.csr", "-subj", "/CN=localhost")
        with open(d + "/ext.cnf", "w") as f:
            f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", d + "/hub.csr", "-CA", self.ca_file, "-CAkey", d + "/ca.key", "-CAcreateserial",
                "-out", d + "/hub.pem", "-days", "2", "-extfile", d + "/ext.cnf")
        self.cert_dir = d

    def start_process(self, args, log):
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.processes.append(p)
        return p

    def mosquitto(self):
        self.mqtt_port = free_port()
        conf = os.path.join(self.work, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"""user root
per_listener_settings false
allow_anonymous true
persistence false
log_dest file {self.work}/mosquitto.log
listener {self.mqtt_port} 127.0.0.1
cafile {self.ca_file}
certfile {self.cert_dir}/hub.pem
keyfile {self.cert_dir}/hub.key
""")
        self.start_process(["mosquitto", "-c", conf], os.path.join(self.work, "mosquitto.out"))

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=1).close()
                return True
            except OSError:
                return False

        eventually("mosquitto to listen", listening, 15)

    def receiver(self):
        d = os.path.join(self.work, "ingest")
        os.makedirs(d, exist_ok=True)
        self.records_file = os.path.join(d, "records.ndjson")
        port_file = os.path.join(d, "port")
        self.start_process([sys.executable, os.path.join(HERE, "ingest-receiver.py"), "--port-file", port_file,
                            "--records", self.records_file], os.path.join(d, "receiver.log"))
        eventually("the ingestion receiver's port", lambda: os.path.exists(port_file) and open(port_file).read().strip(), 15)
        self.ingest_port = int(open(port_file).read())

    def ingest_stats(self):
        return json.loads(http_get(self.ingest_port, "/_stats")[1])

    def fixture_image(self):
        if self.engine.cli("image", "inspect", FIXTURE_IMAGE, check=False).returncode == 0:
            return
        busybox = shutil.which("busybox") or "/bin/busybox"
        rootfs = tempfile.mkdtemp(prefix="edgelog-busybox-")
        os.makedirs(rootfs + "/bin")
        shutil.copy(busybox, rootfs + "/bin/busybox")
        for tool in ["sh", "awk", "seq", "sleep", "cat", "echo", "printf", "yes", "head", "dd"]:
            os.symlink("busybox", f"{rootfs}/bin/{tool}")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", FIXTURE_IMAGE], stdin=tar.stdout, check=True, capture_output=True)
        tar.wait()
        shutil.rmtree(rootfs)

    def journal(self, entries, first=False):
        """Appends entries ((unit, message), …) to a journal file in the host's /var/log/journal."""
        directory = self.host_path("/var/log/journal")
        os.makedirs(directory, exist_ok=True)
        t = int(time.time() * 1e6)
        if first:
            self.boot_id = secrets.token_hex(16)
            self.monotonic = 1_000_000
        lines = []
        for unit, message in entries:
            self.monotonic += 1000
            t += 1
            lines += [f"__REALTIME_TIMESTAMP={t}", f"__MONOTONIC_TIMESTAMP={self.monotonic}", f"_BOOT_ID={self.boot_id}",
                      f"_SYSTEMD_UNIT={unit}", f"SYSLOG_IDENTIFIER={unit.split('.')[0]}", "PRIORITY=6", "_TRANSPORT=journal",
                      f"_HOSTNAME={socket.gethostname()}", f"MESSAGE={message}", ""]
        remote = shutil.which("systemd-journal-remote") or "/lib/systemd/systemd-journal-remote"
        subprocess.run([remote, "-o", os.path.join(directory, "system.journal"), "-"], input="\n".join(lines) + "\n",
                       text=True, check=True, capture_output=True)

    # ---- the module, as the runtime creates it

    def desired(self):
        secret = self.host_path("/etc/edgelog/client-secret")
        os.makedirs(os.path.dirname(secret), exist_ok=True)
        with open(secret, "w") as f:
            f.write("test-client-secret\n")
        os.chmod(secret, 0o400)
        self.metrics_port = free_port()
        site = {
            "sink": {"type": "logsIngestion", "endpoint": f"http://127.0.0.1:{self.ingest_port}", "dcrImmutableId": DCR,
                     "streamName": "Custom-EdgeLogs", "tenantId": TENANT, "clientId": CLIENT_ID,
                     "clientSecretFile": "/run/secrets/edgelog-client-secret",
                     "authorityHost": f"http://127.0.0.1:{self.ingest_port}"},
            "metrics": {"host": "127.0.0.1", "port": self.metrics_port},
        }
        return merge_patch(self.desired_template, site), [f"{secret}:/run/secrets/edgelog-client-secret:ro"]

    def create_body(self, extra_binds):
        body = copy.deepcopy(self.create_options)
        body["Image"] = self.args.image
        module_env = {k: str(v.get("value", "")) for k, v in self.agent_module.get("env", {}).items()}
        runtime_env = {
            "IOTEDGE_WORKLOADURI": "unix:///var/run/iotedge/workload.sock",
            "IOTEDGE_AUTHSCHEME": "sasToken",
            "IOTEDGE_MODULEGENERATIONID": GENERATION,
            "IOTEDGE_IOTHUBHOSTNAME": HUB,
            "IOTEDGE_GATEWAYHOSTNAME": "localhost",
            "IOTEDGE_DEVICEID": DEVICE,
            "IOTEDGE_MODULEID": MODULE,
            "IOTEDGE_APIVERSION": API_VERSION,
            # edgeHub's MQTT head is not on 8883 here.
            "EDGELOG_EDGEHUB_PORT": str(self.mqtt_port),
        }
        env = {**module_env, **runtime_env}
        env.setdefault("RuntimeLogLevel", "info")
        # aziot-edged: the createOptions' own Env wins over the module's env.
        for item in body.get("Env", []):
            key, _, value = item.partition("=")
            env[key] = value
        body["Env"] = [f"{k}={v}" for k, v in env.items()]
        self.env = env
        labels = body.setdefault("Labels", {})
        labels["net.azure-devices.edge.owner"] = "Microsoft.Azure.Devices.Edge.Agent"
        labels["net.azure-devices.edge.original-image"] = self.args.image
        hc = body.setdefault("HostConfig", {})
        binds = []
        for bind in hc.get("Binds", []):
            source, _, rest = bind.partition(":")
            here = self.host_path(source)
            if not os.path.exists(here):
                os.makedirs(here, exist_ok=True)  # the engine would create it (as root, a folder)
            binds.append(f"{here}:{rest}")
        for mount in hc.get("Mounts", []):
            if mount.get("Type", "volume") == "bind":
                mount["Source"] = self.host_path(mount["Source"])
        # edgeAgent: the module's workload socket, <homedir>/mnt/<module>.sock, at the URI the module is given.
        binds.append(f"{self.workload_socket}:/var/run/iotedge/workload.sock")
        hc["Binds"] = binds + extra_binds
        # edgeAgent joins azure-iot-edge; the surroundings here are on loopback.
        hc["NetworkMode"] = "host"
        body.pop("NetworkingConfig", None)
        runtime = self.template["modulesContent"]["$edgeAgent"]["properties.desired"]["runtime"]["settings"]
        if "LogConfig" not in hc and runtime.get("loggingOptions"):
            hc["LogConfig"] = json.loads(runtime["loggingOptions"])
        return body

    def container_pid(self):
        return self.engine.inspect(MODULE)["State"]["Pid"]

    def cgroup(self):
        cid = self.engine.inspect(MODULE)["Id"]
        for candidate in [f"/sys/fs/cgroup/memory/docker/{cid}", f"/sys/fs/cgroup/docker/{cid}",
                          f"/sys/fs/cgroup/system.slice/docker-{cid}.scope"]:
            if os.path.isdir(candidate):
                return candidate
        raise CheckFailed(f"no memory cgroup found for {cid}")

    def cgroup_value(self, name_v1, name_v2):
        d = self.cgroup()
        for name in (name_v1, name_v2):
            path = os.path.join(d, name)
            if os.path.exists(path):
                text = open(path).read().strip()
                return None if text == "max" else int(text)
        return None

    def vm_hwm(self):
        try:
            for line in open(f"/proc/{self.container_pid()}/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except (OSError, CheckFailed):
            return None

    def sampler(self):
        while self.sampling:
            try:
                usage = self.cgroup_value("memory.usage_in_bytes", "memory.current") or 0
                stat = open(os.path.join(self.cgroup(), "memory.stat")).read()
                rss = sum(int(l.split()[1]) for l in stat.splitlines() if l.split()[0] in ("rss", "anon"))
                self.samples["usage"] = max(self.samples["usage"], usage)
                self.samples["rss"] = max(self.samples["rss"], rss)
                hwm = self.vm_hwm()
                if hwm:
                    self.samples["vmhwm"] = max(self.samples.get("vmhwm", 0), hwm)
            except Exception:  # noqa: BLE001 - between a stop and a start there is no cgroup
                pass
            time.sleep(0.2)

    def health_status(self):
        h = self.engine.inspect(MODULE)["State"].get("Health")
        return h["Status"] if h else None

    def peak_cgroup(self):
        """The cgroup's own high-water mark (v1 max_usage_in_bytes, v2 memory.peak), or None."""
        try:
            return self.cgroup_value("memory.max_usage_in_bytes", "memory.peak")
        except CheckFailed:
            return None

    def start_module(self):
        """Starts the container; returns (seconds to /healthz 200, seconds to Docker's healthy) — the second
        waits for Docker's first probe (the HEALTHCHECK's interval)."""
        t0 = now()
        status, doc = self.engine.api("POST", f"/containers/{MODULE}/start")
        if status not in (204, 304):
            raise CheckFailed(f"start: HTTP {status} {doc}")

        def healthz():
            try:
                return http_get(self.metrics_port, "/healthz", timeout=2)[0] == 200
            except OSError:
                return False

        eventually("/healthz to answer 200", healthz, 60)
        return now() - t0, t0

    def wait_docker_healthy(self, t0, timeout=150):
        def healthy():
            status = self.health_status()
            if status == "unhealthy":
                log = self.engine.inspect(MODULE)["State"]["Health"]["Log"]
                raise CheckFailed(f"Docker reports the container unhealthy: {log[-1] if log else ''}")
            return status == "healthy"

        eventually("Docker's HEALTHCHECK to report healthy", healthy, timeout, interval=0.5)
        return now() - t0

    def stop_module(self, label):
        """docker stop (SIGTERM, then SIGKILL after 10 s); returns (seconds, exit code, the run's log lines)."""
        peak = self.peak_cgroup()
        if peak:
            self.samples["cgroup_peak"] = max(self.samples.get("cgroup_peak", 0), peak)
        hwm = self.vm_hwm()
        if hwm:
            self.samples["vmhwm"] = max(self.samples.get("vmhwm", 0), hwm)
        since = self.engine.inspect(MODULE)["State"]["StartedAt"]
        stop_requested = f"{time.time():.3f}"
        t = now()
        self.engine.cli("stop", "-t", "10", MODULE)
        took = now() - t
        state = self.engine.inspect(MODULE)["State"]
        logs = self.engine.cli("logs", "--since", since, MODULE).stderr.splitlines()
        self.stop_logs = self.engine.cli("logs", "--since", stop_requested, MODULE).stderr.splitlines()
        say(f"{label}: docker stop took {took:.1f} s, exit code {state['ExitCode']}, OOMKilled {state['OOMKilled']}")
        return took, state["ExitCode"], logs, state

    # ---- the run

    def siblings(self, count, lines):
        names = []
        for k in range(1, count + 1):
            name = f"sibling{k}"
            script = (f'BEGIN {{ pad = sprintf("%{self.args.pad}s", ""); gsub(/ /, "x", pad); '
                      f'for (i = 1; i <= {lines}; i++) printf "{name} line %07d %s\\n", i, pad }}')
            self.engine.cli("run", "-d", "--name", name, "--network", "none", FIXTURE_IMAGE, "awk", script)
            names.append(name)
        return names

    def outbox(self):
        """The records in the state folder's default file-sink outbox (see the known issue in go())."""
        records = []
        for path in sorted(glob.glob(os.path.join(self.host_path("/var/lib/edgelog"), "outbox", "*.ndjson.gz"))):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                records += [line for line in f if line.strip()]
        return records

    def delivered_count(self):
        return self.ingest_stats()["records"] + len(self.outbox())

    def delivered(self):
        """The receiver's and the outbox's records: for each, sibling lines by (module, message) → count; and,
        from both, journal (unit, message) → count, EdgeLog's own records, records with wrong columns."""
        receiver, outbox, journal, own, bad_columns = {}, {}, {}, 0, []
        with open(self.records_file, encoding="utf-8") as f:
            sources = [(receiver, f), (outbox, self.outbox())]
            for lines, rows in sources:
                for raw in rows:
                    r = json.loads(raw)
                    if r.get("Source") == "journal":
                        key = (r.get("Unit"), r.get("Message"))
                        journal[key] = journal.get(key, 0) + 1
                        continue
                    if r.get("ModuleId") == MODULE:
                        own += 1
                        continue
                    key = (r.get("ModuleId"), r.get("Message"))
                    lines[key] = lines.get(key, 0) + 1
                    if len(bad_columns) < 3 and (r.get("DeviceId") != DEVICE or r.get("IoTHub") != HUB
                                                 or r.get("ContainerImage") != FIXTURE_IMAGE or r.get("Stream") != "stdout"):
                        bad_columns.append(r)
        return receiver, outbox, journal, own, bad_columns

    def metric(self, name):
        status, text = http_get(self.metrics_port, "/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def go(self):
        a = self.args
        say(f"work folder {self.work}; template {os.path.relpath(a.template, ROOT)}; image {a.image}")
        info = self.engine.api("GET", "/info")[1]
        self.containers_dir = os.path.join(info["DockerRootDir"], "containers")
        for name in [MODULE] + [f"sibling{k}" for k in range(1, 20)]:
            self.engine.api("DELETE", f"/containers/{name}?force=true")
        os.makedirs(self.host, exist_ok=True)
        self.certificates()
        self.mosquitto()
        self.receiver()
        self.fixture_image()
        self.workload_socket = self.host_path(f"/var/lib/aziot/edged/mnt/{MODULE}.sock")
        os.makedirs(os.path.dirname(self.workload_socket), exist_ok=True)
        key = secrets.token_bytes(32)
        self.workload = WorkloadAPI(self.workload_socket, HUB, DEVICE, MODULE, GENERATION, key, open(self.ca_file).read())
        desired, extra_binds = self.desired()
        self.hub = HubPeer(self.mqtt_port, self.ca_file, desired)
        # The journal has history before the module starts (readFrom "end" skips it).
        self.journal([("aziot-edged.service", "before the module started")], first=True)

        body = self.create_body(extra_binds)
        with open(os.path.join(self.work, "create.json"), "w") as f:
            json.dump(body, f, indent=2)
        status, doc = self.engine.api("POST", f"/containers/create?name={MODULE}", body)
        if status != 201:
            raise CheckFailed(f"POST /containers/create: HTTP {status} {doc}")
        warnings = doc.get("Warnings") or []
        self.check("the engine creates the container from the template's createOptions", True,
                   "warnings: " + "; ".join(warnings) if warnings else "no warnings")
        hc = self.create_options.get("HostConfig", {})
        inspected = self.engine.inspect(MODULE)["HostConfig"]
        for key in ("Memory", "MemorySwap", "NanoCpus"):
            if key in hc:
                self.check(f"HostConfig.{key} is what the template says", inspected.get(key) == hc[key], f"{inspected.get(key)}")

        ready, t0 = self.start_module()
        self.figure("seconds_to_healthz", round(ready, 2))
        self.sampling = True
        threading.Thread(target=self.sampler, daemon=True).start()

        limit = hc.get("Memory")
        cg_limit = self.cgroup_value("memory.limit_in_bytes", "memory.max")
        if limit:
            self.check("the engine applies the memory limit (cgroup)", cg_limit == limit, f"cgroup limit {cg_limit} bytes")
            self.figure("memory_limit_bytes", cg_limit)

        # The twin: the desired properties applied, health reported.
        reported = self.hub.wait_reported(lambda r: r.get("config", {}).get("status") in ("applied", "rejected"), 60)
        self.check("the module twin's desired properties are applied", reported["config"]["status"] == "applied",
                   json.dumps(reported["config"])[:300])
        signed = len(self.workload.signed)
        self.check("SAS tokens come from the workload API through the bound socket", signed >= 1 and not self.workload.refused,
                   f"{signed} signed, {len(self.workload.refused)} refused")

        # Siblings at full speed; journal entries of a followed unit and of another one.
        total = a.siblings * a.lines
        t_write = now()
        names = self.siblings(a.siblings, a.lines)
        journal_expected = [("aziot-edged.service", f"journal entry {i}") for i in range(1, 6)]
        self.journal(journal_expected + [("unrelated.service", "not followed")])

        # Mid-stream, while the siblings write: docker stop and start (what edgeAgent does on a restart), then a
        # direct method and rotation.
        eventually("a tenth of the sibling lines delivered", lambda: self.ingest_stats()["records"] >= total // 10, 300, 0.05)
        took, code, logs, state = self.stop_module("mid-stream stop")
        self.figure("seconds_docker_stop_midstream", round(took, 2))
        self.check("docker stop mid-stream ends EdgeLog cleanly (exit code 0 within the 10 s)", code == 0 and took < 10,
                   f"exit {code} after {took:.1f} s")
        self.check("its last log line says the checkpoints are committed", any("checkpoints committed" in l for l in logs[-3:]),
                   (logs[-1] if logs else "no log"))
        spooled = [l for l in self.stop_logs if "stay spooled" in l]
        self.figure("midstream_stop_left_spooled", spooled[-1] if spooled else "nothing")
        before = self.ingest_stats()["records"]
        self.figure("records_before_restart", before)
        all_logs = list(logs)

        ready2, t1 = self.start_module()
        self.figure("seconds_to_healthz_after_restart", round(ready2, 2))
        self.check("the restart has a backlog to resume (the siblings wrote on)", before < total,
                   f"{before} of {total} records delivered before the restart")
        status, answer = self.hub.call("getStatus")
        self.check("the direct method getStatus answers", status == 200, f"status {status}")
        rotation = self.desired_template.get("rotation", {})
        if rotation.get("enabled") and not rotation.get("maxSize"):
            status, answer = self.hub.call("rotateNow", {}, timeout=120)
            rotated = glob.glob(os.path.join(self.containers_dir, "*", "*-json.log.1"))
            self.check("rotateNow rotates the siblings' logs inside the container (copytruncate through the bind)",
                       status == 200 and len(rotated) >= 1, f"status {status}, {len(rotated)} file(s) rotated")

        for name in names:
            eventually(f"{name} to finish writing", lambda: not self.engine.inspect(name)["State"]["Running"], 600, 0.5)
        self.figure("sibling_write_seconds", round(now() - t_write, 1))
        eventually("every sibling line delivered", lambda: self.delivered_count() >= total + len(journal_expected), 600, 0.5)
        self.figure("seconds_write_start_to_all_delivered", round(now() - t_write, 1))

        if rotation.get("enabled") and rotation.get("maxSize"):
            rotations = eventually("a size-triggered rotation", lambda: self.metric("edgelog_rotations_total"),
                                   rotation.get("checkIntervalSeconds", 60) + 60, 1)
            self.check("the template's maxSize rotates the siblings' logs inside the container", rotations >= 1,
                       f"{int(rotations)} rotation(s)")

        healthy = self.wait_docker_healthy(t1)
        self.figure("seconds_to_docker_healthy_after_restart", round(healthy, 1))
        first_healthy = self.engine.inspect(MODULE)["State"]["Health"]
        self.check("Docker's HEALTHCHECK reports the container healthy", first_healthy["Status"] == "healthy",
                   f"after {healthy:.0f} s (first probe at the HEALTHCHECK's interval)")
        reported = self.hub.wait_reported(lambda r: "health" in r, 120)
        self.check("health is in the reported properties", "records" in reported["health"],
                   json.dumps(reported["health"].get("records", {})))

        took, code, logs, state = self.stop_module("final stop")
        all_logs += logs
        self.sampling = False
        self.check("the final docker stop ends EdgeLog cleanly", code == 0 and not state["OOMKilled"], f"exit {code} after {took:.1f} s")
        self.check("nothing left spooled at the final stop", self.stop_logs and not any("stay spooled" in l for l in self.stop_logs),
                   " / ".join(self.stop_logs))
        state_dir = self.host_path("/var/lib/edgelog")
        public = []
        for folder, dirs, files in os.walk(state_dir):
            for name in dirs + files:
                path = os.path.join(folder, name)
                if os.lstat(path).st_mode & 0o077:
                    public.append(f"{os.path.relpath(path, state_dir)} {oct(os.lstat(path).st_mode & 0o777)}")
        self.check("what EdgeLog writes in its state folder is private (no group or other access)", not public,
                   f"{len(public)} not private: {public[:4]}" if public else "")
        # After the final stop nothing more can arrive: the counts below are final.
        self.check("no batch refused by the receiver", self.ingest_stats()["rejected"] == 0)
        bad = [l for l in all_logs if not LOG_LINE.match(l)]
        self.check("EdgeLog's own log lines are in the IoT Edge format (<6> 2026-01-01 00:00:00.000 +00:00 …)",
                   all_logs and not bad, f"{len(all_logs)} lines; first: {all_logs[0] if all_logs else ''}" + (f"; not: {bad[:2]}" if bad else ""))

        receiver, outbox, journal, own, bad_columns = self.delivered()
        expected = {(f"sibling{k}", f"sibling{k} line {i:07d} {'x' * a.pad}") for k in range(1, a.siblings + 1) for i in range(1, a.lines + 1)}
        delivered = set(receiver) | set(outbox)
        missing = len(expected - delivered)
        twice = sum(1 for c in receiver.values() if c > 1) + sum(1 for c in outbox.values() if c > 1)
        unexpected = len(delivered - expected)
        self.figure("sibling_lines_written", total)
        self.figure("sibling_records_delivered", sum(receiver.values()) + sum(outbox.values()))
        self.check("every sibling line delivered exactly once across the stop and restart", missing == 0 and twice == 0 and unexpected == 0,
                   f"{len(expected)} written, {sum(receiver.values())} at the receiver, {sum(outbox.values())} in the outbox; "
                   f"{missing} missing, {twice} twice at one sink, {unexpected} unexpected")
        both = len(set(receiver) & set(outbox))
        self.figure("records_in_default_outbox", sum(outbox.values()))
        self.figure("records_at_the_receiver", sum(receiver.values()))
        self.check("every record goes to the sink the desired properties name (none to the default outbox)", not outbox,
                   f"{sum(outbox.values())} record(s) in <stateDirectory>/outbox, {both} of them at the receiver too")
        self.check("the records carry the device, hub and image columns", not bad_columns, json.dumps(bad_columns[:1])[:300])
        self.check("EdgeLog does not ship its own container's log (excludeSelf)", own == 0, f"{own} own records")
        self.check("the journal entries of the followed unit delivered exactly once, others filtered out",
                   journal == {k: 1 for k in journal_expected}, f"{sum(journal.values())} journal record(s)")

        if limit:
            peak = self.samples.get("cgroup_peak") or self.samples["usage"]
            self.figure("memory_cgroup_peak_bytes", peak)
            self.figure("memory_peak_rss_bytes", self.samples.get("vmhwm"))
            self.figure("memory_cgroup_peak_anon_bytes", self.samples["rss"])
            oom = self.cgroup_oom_kills()
            self.check("the process stays under the memory limit (no OOM kill)", not state["OOMKilled"] and oom in (0, None) and peak <= limit,
                       f"cgroup peak {peak / 2**20:.1f} MiB (page cache included), peak RSS {(self.samples.get('vmhwm') or 0) / 2**20:.1f} MiB, limit {limit / 2**20:.0f} MiB")

    def cgroup_oom_kills(self):
        try:
            for line in open(os.path.join(self.cgroup(), "memory.oom_control" if os.path.exists(os.path.join(self.cgroup(), "memory.oom_control")) else "memory.events")):
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, CheckFailed):
            return None
        return 0

    def close(self):
        self.sampling = False
        if self.hub:
            self.hub.close()
        if self.workload:
            self.workload.close()
        for p in self.processes:
            p.kill()
            p.wait()
        if not self.args.keep:
            for name in [MODULE] + [f"sibling{k}" for k in range(1, self.args.siblings + 1)]:
                self.engine.api("DELETE", f"/containers/{name}?force=true")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--template", default=os.path.join(ROOT, "deployment.template.json"))
    ap.add_argument("--work", help="work folder (default: a new temporary one)")
    ap.add_argument("--siblings", type=int, default=3)
    ap.add_argument("--lines", type=int, default=150000, help="lines per sibling")
    ap.add_argument("--pad", type=int, default=60, help="filler bytes per line")
    ap.add_argument("--report", help="write the figures and checks here (JSON)")
    ap.add_argument("--keep", action="store_true", help="leave the containers for inspection")
    run = Run(ap.parse_args())
    error = None
    t = now()
    try:
        run.go()
    except CheckFailed as e:
        error = str(e)
        run.check("the run", False, error)
    except Exception as e:  # noqa: BLE001 - report, clean up, fail
        error = f"{type(e).__name__}: {e}"
        run.check("the run", False, error)
    finally:
        if error:
            try:
                logs = run.engine.cli("logs", "--tail", "30", MODULE, check=False)
                say("the module's last log lines:\n" + logs.stderr + logs.stdout)
            except Exception:  # noqa: BLE001
                pass
        run.close()
    run.figure("run_seconds", round(now() - t, 1))
    failed = [c for c in run.checks if not c[1]]
    for k, v in run.figures.items():
        say(f"figure {k}: {v}")
    if run.args.report:
        with open(run.args.report, "w") as f:
            json.dump({"template": os.path.basename(run.args.template), "figures": run.figures,
                       "checks": [{"name": n, "ok": o, "detail": d} for n, o, d in run.checks]}, f, indent=2)
    say(f"{len(run.checks) - len(failed)} of {len(run.checks)} checks passed" + (f"; FAILED: {', '.join(c[0] for c in failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
