#!/usr/bin/env python3
"""A fleet on one data collection rule: N real `edgelog run` processes (default 200), each with its own state
directory and containers directory of generated json-file logs that a live writer keeps appending to, all posting
through the `logsIngestion` sink to one Logs Ingestion stand-in (scripts/ingest-receiver.py) that enforces the
rule's limits scaled down to this machine and can simulate an outage.

    scripts/fleet-sim.py [--binary PATH] [--devices 200] [--scenarios steady,outage,restart] [--quick]
                         [--label NAME] [--out DIR] [--work DIR] [--outage-minutes 10]

The budget: Azure Monitor's Logs Ingestion API allows, per data collection rule, 12,000 requests and 2 GB per
minute. Both are scaled by the same factor, devices / --fleet-equivalent (default 20,000), so bytes per request
stay what they are and each simulated device gets the share of the rule that one device of a 20,000-device fleet
gets: 0.6 requests and 100 kB per minute. 200 devices: 120 requests and 20,000,000 (uncompressed) bytes per
minute, counted over any 60 s, 429 with Retry-After past either.

Scenarios (each on a fresh fleet; --quick shortens every phase):
  steady   the writers produce --load (60 %) of the byte budget for 10 minutes (after 2 of warm-up);
  outage   3 minutes steady, then --outage-minutes of 503s while every device keeps writing, then recovery
           until every device has delivered what it held when the outage ended;
  restart  2 minutes steady, a 3-minute outage, every device stopped (SIGTERM) 30 s before it ends, and all of
           them started again together at its end (a hub-wide redeploy after an outage): full spools at once.

It reports, per scenario: accepted bytes and calls per minute against the budget, 429s per 10 s and per second
(with the peak-to-mean ratio, the strongest period and the periodicity at 60 s with the trend removed, to show
synchronized waves), records lost (written minus
delivered, and EdgeLog's own counted drops), time to drain the backlog, fairness (each device's drain time),
peak RSS per process and the load average. Figures are written to OUT/<label>-<scenario>.json and printed.
Not a test: it takes an hour with the defaults (--quick: about 15 minutes).
"""
import argparse, collections, concurrent.futures, datetime, json, math, os, random, shutil, signal, statistics
import subprocess, sys, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_REQUESTS_PER_MIN = 12_000
REAL_BYTES_PER_MIN = 2_000_000_000
CONTAINERS = ["sensor", "hub"]
DCR = "dcr-00000000000000000000000000000000"
CLIENT = "00000000-0000-4000-8000-000000000000"


def die_with_parent():
    """Children get SIGTERM if the simulation itself dies (PR_SET_PDEATHSIG), so nothing is left running."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def log(msg):
    print(f"[{datetime.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# --------------------------------------------------------------------------------------------------------------
# The writer: one process appends json-file lines to every device's containers at a set rate.

def writer_main(a):
    """Appends numbered lines (`seq=N` in the message) to each container's log, `rate` lines/s per device (read
    from the rate file, which the orchestrator may change), until SIGTERM; keeps WORK/written.json current."""
    rng = random.Random(7)
    devices = a.devices
    files, names, seqs = [], [], []
    for d in range(devices):
        for c in CONTAINERS:
            cid = container_id(d, c)
            path = os.path.join(a.work, f"dev-{d:03d}", "containers", cid, cid + "-json.log")
            files.append(open(path, "a", encoding="utf-8"))
            names.append(f"d{d:03d}-{c}")
            seqs.append(0)
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))

    def line(i, t):
        seqs[i] += 1
        lvl = rng.choice((6, 6, 6, 4, 3))
        msg = (f"<{lvl}> {t[:10]} {t[11:23]} +00:00 [{names[i]}] Processed {rng.randint(1, 5000)} messages for "
               f"device {rng.randint(1, 99)} in {rng.random() * 50:.3f} ms seq={seqs[i]}\n")
        return json.dumps({"log": msg, "stream": "stdout" if lvl > 4 else "stderr", "time": t}) + "\n"

    def stamp():
        now = time.time()
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%09dZ" % int((now % 1) * 1e9)

    def save():
        tmp = os.path.join(a.work, "written.json.tmp")
        with open(tmp, "w") as f:
            json.dump(dict(zip(names, seqs)), f)
        os.replace(tmp, os.path.join(a.work, "written.json"))

    # The logs the containers already have: --initial-seconds of lines.
    rate = read_rate(a.rate_file)
    for i, f in enumerate(files):
        t = stamp()
        f.write("".join(line(i, t) for _ in range(int(rate * a.initial_seconds / len(CONTAINERS)))))
        f.flush()
    save()
    open(os.path.join(a.work, "writer.ready"), "w").close()
    owed = [0.0] * devices
    last = time.monotonic()
    last_save = last
    last_rate = last
    while not stop[0]:
        time.sleep(0.1)
        now = time.monotonic()
        if now - last_rate > 2:
            rate = read_rate(a.rate_file)
            last_rate = now
        t = stamp()
        for d in range(devices):
            owed[d] += rate * (now - last)
            n = int(owed[d])
            owed[d] -= n
            for k in range(n):
                i = d * len(CONTAINERS) + (k + d) % len(CONTAINERS)
                files[i].write(line(i, t))
        for f in files:
            f.flush()
        last = now
        if now - last_save > 5:
            save()
            last_save = now
    save()


def read_rate(path):
    try:
        with open(path) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return 0.0


def container_id(device, name):
    import hashlib
    return hashlib.sha256(f"fleet-{device}-{name}".encode()).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# The fleet.

class Fleet:
    def __init__(self, a, scenario):
        self.a = a
        self.scenario = scenario
        self.work = os.path.join(a.work, scenario)
        self.n = a.devices
        f = self.n / a.fleet_equivalent
        self.budget_requests = max(1, round(REAL_REQUESTS_PER_MIN * f))
        self.budget_bytes = max(1, round(REAL_BYTES_PER_MIN * f))
        self.procs = {}
        self.peak_rss = {}  # device -> KB, the highest of every process it ran
        self.samples = []  # (time, {device: metrics})
        self.loads = []
        self.phases = []
        self.bytes_per_record = a.bytes_per_record

    # -- setup ---------------------------------------------------------------------------------------------------
    def setup(self):
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.events = os.path.join(self.work, "events.txt")
        port_file = os.path.join(self.work, "port")
        self.receiver = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "ingest-receiver.py"), "--port-file", port_file,
             "--budget-requests-per-min", str(self.budget_requests), "--budget-bytes-per-min", str(self.budget_bytes),
             "--events", self.events, "--track", r"seq=(\d+)"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "receiver.log"), "w"),
            preexec_fn=die_with_parent)
        for _ in range(200):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        with open(os.path.join(self.work, "secret"), "w") as f:
            f.write("fleet-secret")
        extra = json.loads(self.a.config_extra) if self.a.config_extra else {}
        for d in range(self.n):
            root = os.path.join(self.work, f"dev-{d:03d}")
            for c in CONTAINERS:
                cid = container_id(d, c)
                cdir = os.path.join(root, "containers", cid)
                os.makedirs(cdir)
                with open(os.path.join(cdir, "config.v2.json"), "w") as f:
                    json.dump({"ID": cid, "Name": f"/d{d:03d}-{c}",
                               "Config": {"Image": f"example.azurecr.io/{c}:1.0", "Labels": {}},
                               "State": {"StartedAt": "2026-11-27T10:00:00.000000000Z"}}, f)
                open(os.path.join(cdir, cid + "-json.log"), "w").close()
            config = {
                "stateDirectory": os.path.join(root, "state"),
                "docker": {"containersDirectory": os.path.join(root, "containers"), "excludeSelf": False},
                "metrics": {"host": "127.0.0.1", "port": self.a.metrics_port + d},
                "sink": {"type": "logsIngestion", "endpoint": f"http://127.0.0.1:{self.port}",
                         "authorityHost": f"http://127.0.0.1:{self.port}", "dcrImmutableId": DCR,
                         "tenantId": "fleet", "clientId": CLIENT,
                         "clientSecretFile": os.path.join(self.work, "secret")},
            }
            merge(config, extra)
            with open(os.path.join(root, "config.json"), "w") as f:
                json.dump(config, f, indent=1)
        self.rate_file = os.path.join(self.work, "rate")
        self.set_rate()
        self.writer = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--writer", "--work", self.work, "--devices", str(self.n),
             "--rate-file", self.rate_file, "--initial-seconds", str(self.a.initial_seconds)],
            preexec_fn=die_with_parent)
        while not os.path.exists(os.path.join(self.work, "writer.ready")):
            time.sleep(0.1)

    def set_rate(self):
        """Lines per second per device for --load of the byte budget, at the record size seen so far."""
        per_device = self.a.load * self.budget_bytes / 60 / self.n
        with open(self.rate_file, "w") as f:
            f.write(f"{per_device / self.bytes_per_record:.4f}")

    # -- processes -----------------------------------------------------------------------------------------------
    def start(self, devices=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_") and k != "EdgeHubConnectionString"}
        env["RuntimeLogLevel"] = "info"
        for d in devices if devices is not None else range(self.n):
            root = os.path.join(self.work, f"dev-{d:03d}")
            self.procs[d] = subprocess.Popen(
                [self.a.binary, "run", "--config", os.path.join(root, "config.json")], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, "edgelog.log"), "a"),
                preexec_fn=die_with_parent)

    def note_rss(self):
        for d, p in self.procs.items():
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peak_rss[d] = max(self.peak_rss.get(d, 0), int(line.split()[1]))
            except OSError:
                pass

    def stop(self, sig=signal.SIGTERM):
        self.note_rss()
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(sig)
        deadline = time.time() + 60
        codes = {}
        for d, p in self.procs.items():
            try:
                codes[d] = p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                codes[d] = p.wait()
        self.procs = {}
        return codes

    def shutdown(self):
        if self.procs:
            self.stop()
        for p in (self.writer, self.receiver):
            if p.poll() is None:
                p.terminate()
                p.wait()

    # -- observation ---------------------------------------------------------------------------------------------
    def scrape_one(self, d):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.a.metrics_port + d}/metrics", timeout=5) as r:
                text = r.read().decode()
        except Exception:
            return d, None
        values = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{")[0]
            keep = ("edgelog_spool_bytes", "edgelog_spool_records", "edgelog_spool_oldest_age_seconds",
                    "edgelog_records_dropped_total", "edgelog_process_resident_memory_bytes", "edgelog_sink_window",
                    "edgelog_sink_call_interval_seconds", "edgelog_upload_merged_calls_total",
                    "edgelog_upload_throttled_total", "edgelog_records_shipped_total", "edgelog_spool_drain_seconds")
            if name in keep:
                key = name
                if 'reason="' in name_labels:
                    key += ":" + name_labels.split('reason="')[1].split('"')[0]
                try:
                    values[key] = float(value)
                except ValueError:
                    pass
        return d, values

    def scrape(self):
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            got = dict(pool.map(self.scrape_one, list(self.procs)))
        self.samples.append((time.time(), got))
        self.loads.append((time.time(), loadavg()))
        return got

    def receiver_get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as r:
            return json.loads(r.read())

    def outage(self, seconds):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/_outage?seconds={seconds}", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def calibrate(self):
        """The record size the receiver sees: the writer's rate follows it."""
        s = self.receiver_get("/_stats")
        if s["records"] > 1000:
            size = s["plainBytes"] / s["records"]
            if abs(size - self.bytes_per_record) / self.bytes_per_record > 0.03:
                self.bytes_per_record = size
                self.set_rate()
                log(f"records are {size:.0f} bytes: the writers now write {read_rate(self.rate_file):.3f} lines/s per device")

    def run_for(self, seconds, every=10, until=None):
        """Scrapes every `every` s for `seconds` (or until `until(sample)` is true); returns the elapsed time."""
        start = time.time()
        while time.time() - start < seconds:
            got = self.scrape()
            self.note_rss()
            self.calibrate()
            if until is not None and until(got):
                break
            time.sleep(max(0, every - (time.time() - self.samples[-1][0])))
        return time.time() - start

    def phase(self, name, start, end):
        self.phases.append({"name": name, "start": start, "end": end})

    def drained_since(self, mark):
        """Devices that hold nothing spooled from before `mark`, and when each first did (from the scrapes)."""
        done = {}
        for t, got in self.samples:
            if t < mark:
                continue
            for d, v in got.items():
                if d in done or v is None:
                    continue
                if v.get("edgelog_spool_bytes", 1) == 0 or v.get("edgelog_spool_oldest_age_seconds", 1e9) < t - mark:
                    done[d] = t - mark
        return done

    def wait_drained(self, mark, limit):
        log(f"waiting for every device to deliver what it held {datetime.datetime.fromtimestamp(mark):%H:%M:%S} (at most {limit // 60} min)")
        self.run_for(limit, until=lambda got: len(self.drained_since(mark)) >= self.n)
        return self.drained_since(mark)

    def finish(self):
        """Stops the writer, waits for every written line to be delivered (or for progress to stop), then stops the
        devices. Returns the loss accounting."""
        self.writer.send_signal(signal.SIGTERM)
        self.writer.wait()
        with open(os.path.join(self.work, "written.json")) as f:
            written = json.load(f)
        total = sum(written.values())
        log(f"writer stopped after {total} lines; waiting for them to be delivered")
        best, since = -1, time.time()
        started = time.time()
        while True:
            tracked = self.receiver_get("/_tracked")
            delivered = sum(min(tracked.get(k, [0, 0])[0], n) for k, n in written.items())
            if delivered >= total:
                break
            if delivered > best:
                best, since = delivered, time.time()
            elif time.time() - since > self.a.final_patience:
                log(f"no progress for {self.a.final_patience} s: {total - delivered} lines not delivered")
                break
            if time.time() - started > self.a.final_timeout:
                log(f"still not delivered after {self.a.final_timeout} s: {total - delivered} lines")
                break
            self.scrape()
            self.note_rss()
            time.sleep(10)
        last = self.scrape()
        dropped = collections.Counter()
        spooled = 0
        for v in last.values():
            if v is None:
                continue
            spooled += v.get("edgelog_spool_records", 0)
            for reason in ("ttl", "size", "dead_letter", "damaged", "malformed", "oversize"):
                dropped[reason] += v.get(f"edgelog_records_dropped_total:{reason}", 0)
        codes = self.stop()
        tracked = self.receiver_get("/_tracked")
        missing = sum(max(0, n - tracked.get(k, [0, 0])[0]) for k, n in written.items())
        duplicates = sum(e[1] for e in tracked.values())
        return {"written": total, "delivered": total - missing, "missing": missing, "duplicates": duplicates,
                "stillSpooledAtEnd": int(spooled), "droppedCounted": dict(dropped),
                "exitCodes": dict(collections.Counter(codes.values()))}


def merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v


# --------------------------------------------------------------------------------------------------------------
# Scenarios.

def minutes(a, full, quick):
    return (quick if a.quick else full) * 60


def scenario_steady(fl, a):
    fl.start()
    t0 = time.time()
    fl.run_for(minutes(a, 2, 1))
    t1 = time.time()
    fl.phase("warm-up", t0, t1)
    fl.run_for(minutes(a, 10, 3))
    fl.phase("steady", t1, time.time())
    return {}


def scenario_outage(fl, a):
    fl.start()
    t0 = time.time()
    fl.run_for(minutes(a, 3, 1))
    t1 = time.time()
    fl.phase("before", t0, t1)
    length = a.outage_minutes * 60 if a.outage_minutes is not None else minutes(a, 10, 2)
    fl.outage(length)
    log(f"outage: every call answers 503 for {length / 60:g} min")
    fl.run_for(length)
    t2 = t1 + length
    fl.phase("outage", t1, t2)
    drained = fl.wait_drained(t2, minutes(a, 60, 20))
    t3 = time.time()
    fl.phase("recovery", t2, t2 + max(drained.values()) if len(drained) == fl.n else t3)
    fl.run_for(60)
    fl.phase("after", t3, time.time())
    return {"drain": drained, "recoveryStart": t2}


def scenario_restart(fl, a):
    fl.start()
    t0 = time.time()
    fl.run_for(minutes(a, 2, 1))
    t1 = time.time()
    fl.phase("before", t0, t1)
    length = minutes(a, 3, 2)
    fl.outage(length)
    log(f"outage of {length / 60:g} min; every device is stopped 30 s before it ends and all start at its end")
    fl.run_for(length - 30)
    codes = fl.stop()
    log(f"stopped: exit codes {dict(collections.Counter(codes.values()))}")
    while time.time() < t1 + length:
        time.sleep(0.05)
    t2 = time.time()
    fl.phase("outage", t1, t2)
    fl.start()
    log("every device started again at once")
    drained = fl.wait_drained(t2, minutes(a, 60, 20))
    t3 = time.time()
    fl.phase("recovery", t2, t2 + max(drained.values()) if len(drained) == fl.n else t3)
    fl.run_for(60)
    fl.phase("after", t3, time.time())
    return {"drain": drained, "recoveryStart": t2}


# --------------------------------------------------------------------------------------------------------------
# Analysis of the receiver's events.

def read_events(path):
    events = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 6:
                events.append((float(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4]), p[5]))
    return events


def per_bucket(events, start, end, width, status, field=None):
    n = max(1, math.ceil((end - start) / width))
    out = [0] * n
    for e in events:
        if e[1] == status and start <= e[0] < end:
            out[min(n - 1, int((e[0] - start) // width))] += 1 if field is None else e[field]
    return out


def waves(counts):
    """How bursty per-second counts are: peak/mean, the share of the total in the busiest 5 % of seconds, the lag
    (2-120 s) with the strongest autocorrelation, and the autocorrelation at 60 s once the trend is removed (a
    centred one-minute moving average subtracted, which keeps a component a minute apart and removes the slow rise
    and fall of a recovery): near 1 for waves a minute apart, near 0 without."""
    total = sum(counts)
    if total == 0 or len(counts) < 10:
        return {"total": total}
    mean = total / len(counts)
    top = sorted(counts, reverse=True)[:max(1, len(counts) // 20)]
    var = sum((c - mean) ** 2 for c in counts)
    best = (0, 0.0)
    if var > 0:
        for lag in range(2, min(121, len(counts) // 2)):
            ac = sum((counts[i] - mean) * (counts[i + lag] - mean) for i in range(len(counts) - lag)) / var
            if ac > best[1]:
                best = (lag, ac)
    trend = [sum(counts[max(0, i - 30):i + 31]) / len(counts[max(0, i - 30):i + 31]) for i in range(len(counts))]
    rest = [c - m for c, m in zip(counts, trend)]
    rvar = sum(x * x for x in rest)
    periodic = sum(rest[i] * rest[i + 60] for i in range(len(rest) - 60)) / rvar if rvar and len(rest) > 60 else 0.0
    return {"total": total, "seconds": len(counts), "peakPerSecond": max(counts), "meanPerSecond": round(mean, 3),
            "peakToMean": round(max(counts) / mean, 1), "shareInBusiest5PercentSeconds": round(sum(top) / total, 3),
            "strongestPeriodSeconds": best[0], "autocorrelationAtThatPeriod": round(best[1], 3),
            "periodicityAt60s": round(periodic, 3)}


def analyse(fl, extra, losses):
    events = read_events(fl.events)
    start = min(p["start"] for p in fl.phases)
    end = max(p["end"] for p in fl.phases)
    result = {
        "scenario": fl.scenario, "devices": fl.n, "binary": fl.a.binary, "label": fl.a.label,
        "budget": {"requestsPerMinute": fl.budget_requests, "bytesPerMinute": fl.budget_bytes,
                   "scale": fl.n / fl.a.fleet_equivalent, "fleetEquivalent": fl.a.fleet_equivalent,
                   "perDeviceBytesPerMinute": fl.budget_bytes / fl.n,
                   "perDeviceRequestsPerMinute": fl.budget_requests / fl.n},
        "load": fl.a.load, "bytesPerRecord": round(fl.bytes_per_record, 1),
        "loadAverage": {"min": min(l[1][0] for l in fl.loads), "max": max(l[1][0] for l in fl.loads),
                        "mean": round(statistics.mean(l[1][0] for l in fl.loads), 2)},
        "phases": [], "losses": losses,
    }
    for p in fl.phases:
        s, e = p["start"], p["end"]
        mins = (e - s) / 60
        acc = [x for x in events if s <= x[0] < e and x[1] == 204]
        thr = [x for x in events if s <= x[0] < e and x[1] == 429]
        bytes_per_min = per_bucket(events, s, e, 60, 204, 3)
        calls_per_min = per_bucket(events, s, e, 60, 204)
        ph = {"name": p["name"], "seconds": round(e - s),
              "acceptedBytesPerMinute": round(sum(x[3] for x in acc) / mins) if mins else 0,
              "acceptedBytesShareOfBudget": round(sum(x[3] for x in acc) / mins / fl.budget_bytes, 3) if mins else 0,
              "acceptedCallsPerMinute": round(len(acc) / mins, 1) if mins else 0,
              "acceptedCallsShareOfBudget": round(len(acc) / mins / fl.budget_requests, 3) if mins else 0,
              "meanAcceptedCallBytes": round(sum(x[3] for x in acc) / len(acc)) if acc else 0,
              "throttled": len(thr), "outage503": sum(1 for x in events if s <= x[0] < e and x[1] == 503),
              "byMinute": {"acceptedBytes": bytes_per_min, "acceptedCalls": calls_per_min,
                           "throttled": per_bucket(events, s, e, 60, 429)},
              "throttledPer10s": per_bucket(events, s, e, 10, 429),
              "throttledWaves": waves(per_bucket(events, s, e, 1, 429))}
        ph["fullMinutesAtOrOver90PercentOfByteBudget"] = sum(
            1 for i, b in enumerate(bytes_per_min[:-1]) if b >= 0.9 * fl.budget_bytes)
        result["phases"].append(ph)
    if "drain" in extra:
        drain = extra["drain"]
        times = sorted(drain.values())
        result["drain"] = {
            "devicesDrained": len(times), "devices": fl.n,
            "allDrainedSeconds": round(times[-1]) if len(times) == fl.n else None,
            "perDevice": {"min": round(times[0]), "median": round(statistics.median(times)),
                          "p90": round(times[int(0.9 * (len(times) - 1))]), "max": round(times[-1]),
                          "stdev": round(statistics.pstdev(times), 1)} if times else {}}
    rss = sorted(fl.peak_rss.values())
    if rss:
        result["peakRssKB"] = {"min": rss[0], "median": rss[len(rss) // 2], "max": rss[-1], "sum": sum(rss)}
    # The per-second 429 histogram of the first 2 minutes of recovery (or of the whole run).
    mark = extra.get("recoveryStart", start)
    result["throttledPerSecondFirst120s"] = per_bucket(events, mark, mark + 120, 1, 429)
    result["pacing"] = pacing_summary(fl)
    return result


def pacing_summary(fl):
    """The spread of the devices' call intervals and windows in the last scrape of each phase."""
    out = {}
    for p in fl.phases:
        got = [g for t, g in fl.samples if p["start"] <= t < p["end"]]
        if not got:
            continue
        last = got[-1]
        iv = sorted(v.get("edgelog_sink_call_interval_seconds", 0) for v in last.values() if v)
        merged = sum(v.get("edgelog_upload_merged_calls_total", 0) for v in last.values() if v)
        if iv:
            out[p["name"]] = {"callIntervalSecondsMedian": iv[len(iv) // 2], "callIntervalSecondsMax": iv[-1],
                              "mergedCallsSoFar": int(merged)}
    return out


def report(r):
    b = r["budget"]
    print(f"\n== {r['label']} / {r['scenario']}: {r['devices']} devices, budget {b['requestsPerMinute']} requests and "
          f"{b['bytesPerMinute']:,} bytes per minute (x{b['scale']:g} of the real rule: a {b['fleetEquivalent']:,}-device "
          f"fleet's share), load {r['load']:.0%}, {r['bytesPerRecord']} B/record, load average "
          f"{r['loadAverage']['min']}-{r['loadAverage']['max']}")
    for p in r["phases"]:
        print(f"  {p['name']:9} {p['seconds']:5d} s  accepted {p['acceptedBytesPerMinute']:>12,} B/min "
              f"({p['acceptedBytesShareOfBudget']:.0%} of budget), {p['acceptedCallsPerMinute']:7.1f} calls/min "
              f"({p['acceptedCallsShareOfBudget']:.0%}), {p['meanAcceptedCallBytes']:,} B/call, 429s {p['throttled']}, "
              f"503s {p['outage503']}")
        if p["throttled"]:
            w = p["throttledWaves"]
            print(f"            429 waves: peak {w.get('peakPerSecond')}/s vs mean {w.get('meanPerSecond')}/s "
                  f"(x{w.get('peakToMean')}), busiest 5 % of seconds hold {w.get('shareInBusiest5PercentSeconds', 0):.0%}, "
                  f"strongest period {w.get('strongestPeriodSeconds')} s (r={w.get('autocorrelationAtThatPeriod')}), "
                  f"periodicity at 60 s {w.get('periodicityAt60s')}")
            print(f"            429s per 10 s: {p['throttledPer10s']}")
        print(f"            bytes by minute (% of budget): "
              f"{[round(100 * x / b['bytesPerMinute']) for x in p['byMinute']['acceptedBytes']]}")
    if "drain" in r:
        d = r["drain"]
        print(f"  drain: {d['devicesDrained']}/{d['devices']} devices, all in {d['allDrainedSeconds']} s; per device "
              f"{d['perDevice']}")
    l = r["losses"]
    print(f"  records: written {l['written']:,}, delivered {l['delivered']:,}, missing {l['missing']:,}, "
          f"duplicates {l['duplicates']:,}, still spooled at the end {l['stillSpooledAtEnd']:,}, "
          f"counted drops {l['droppedCounted']}")
    if "peakRssKB" in r:
        print(f"  peak RSS per process (KB): {r['peakRssKB']}")
    print(f"  pacing: {r['pacing']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rate-file", help=argparse.SUPPRESS)
    ap.add_argument("--binary", default=os.path.join(HERE, "..", ".build", "release", "edgelog"))
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--scenarios", default="steady,outage,restart")
    ap.add_argument("--quick", action="store_true", help="shorter phases (outage 2 min)")
    ap.add_argument("--outage-minutes", type=float, help="the outage scenario's outage (default 10, quick 2)")
    ap.add_argument("--fleet-equivalent", type=int, default=20_000,
                    help="the fleet size per rule the devices' share stands for (the budget scales by devices/this)")
    ap.add_argument("--load", type=float, default=0.6, help="share of the byte budget the writers produce")
    ap.add_argument("--bytes-per-record", type=float, default=400.0, help="first guess; calibrated during the run")
    ap.add_argument("--initial-seconds", type=float, default=60, help="the logs each container has at the start")
    ap.add_argument("--metrics-port", type=int, default=21000, help="device i serves /metrics on this + i")
    ap.add_argument("--config-extra", help="JSON merged into every device's configuration")
    ap.add_argument("--final-patience", type=int, default=600, help="seconds without progress before giving up")
    ap.add_argument("--final-timeout", type=int, default=1800,
                    help="the longest wait for the last lines after the writers stop")
    ap.add_argument("--label", default="run")
    ap.add_argument("--work", default="/tmp/edgelog-fleet")
    ap.add_argument("--out", default=None, help="where the JSON results go (default: WORK)")
    a = ap.parse_args()
    if a.writer:
        return writer_main(a)
    a.binary = os.path.abspath(a.binary)
    if not os.access(a.binary, os.X_OK):
        sys.exit(f"{a.binary} is not an executable; build it with swift build -c release --product edgelog --static-swift-stdlib")
    a.out = a.out or a.work
    os.makedirs(a.out, exist_ok=True)
    log(f"{a.devices} devices of {a.binary}; load average {loadavg()}")
    for scenario in a.scenarios.split(","):
        fl = Fleet(a, scenario)
        try:
            fl.setup()
            log(f"{scenario}: budget {fl.budget_requests} requests and {fl.budget_bytes:,} bytes per minute; "
                f"receiver on {fl.port}")
            extra = {"steady": scenario_steady, "outage": scenario_outage, "restart": scenario_restart}[scenario](fl, a)
            losses = fl.finish()
            result = analyse(fl, extra, losses)
        finally:
            fl.shutdown()
        path = os.path.join(a.out, f"{a.label}-{scenario}.json")
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
        report(result)
        log(f"figures in {path}")


if __name__ == "__main__":
    main()
