#!/usr/bin/env python3
"""A fast model of a fleet recovering on one data collection rule, to compare delivery policies in seconds
before measuring the chosen one with real processes (scripts/fleet-sim.py, which takes an hour).

N devices each write WRITE bytes/s into batches flushed every 5 s; every call carries what a device holds, up to
1 MB. The rule accepts at most R calls and B bytes in any 60 s (a sliding window, as scripts/ingest-receiver.py
counts it) and answers 429 with Retry-After (whole seconds until the window has room for the call) past either.
After a minute of steady state an outage answers 503 for OUTAGE seconds; the model then runs until every device
has delivered what it held when the outage ended, and prints for that recovery: accepted bytes and calls against
the budget, the share of calls answered 429, how periodic the 429s are (the autocorrelation of 429s per second at
a 60 s lag, after removing the trend with a one-minute moving average: near 1 for waves a minute apart, near 0
without), the peak-to-mean of 429s per second, and the devices' drain times.

Two policies, both written after DeliveryPacing and DeliveryStateMachine (the Swift code is what ships; this is
a model of it, kept simple: one call in flight per device, no request latency beyond LATENCY):
  previous  Retry-After plus a random part of up to half of it (2-30 s); new calls paced by the rate DeliveryPacing
            learns from 429s (halved per 429, regained slowly).
  current   Retry-After plus a random part of up to one budget window (60 s); for ten windows after a 429 a new
            call that is not full waits until two windows after the last delivered call; the same pacing.

    scripts/fleet-model.py                       # both policies, 200 devices, 3 seeds
    scripts/fleet-model.py --devices 40 --seeds 5
"""
import argparse
import heapq
import math
import random
import statistics

SPAN = 60.0
MAXCALL = 1_000_000
FLUSH = 5.0
LATENCY = 0.15
STEADY = 60.0


class Rule:
    """The data collection rule's budget over a sliding window, and the outage."""

    def __init__(self, requests, nbytes, outage_from, outage_until):
        self.requests, self.nbytes = requests, nbytes
        self.window = []
        self.window_bytes = 0
        self.outage = (outage_from, outage_until)

    def admit(self, size, now):
        if self.outage[0] <= now < self.outage[1]:
            return 503, None
        while self.window and self.window[0][0] <= now - SPAN:
            self.window_bytes -= self.window.pop(0)[1]
        if len(self.window) + 1 <= self.requests and self.window_bytes + size <= self.nbytes:
            self.window.append((now, size))
            self.window_bytes += size
            return 204, None
        left_r, left_b, wait = len(self.window), self.window_bytes, SPAN
        for t, b in self.window:
            left_r -= 1
            left_b -= b
            if left_r + 1 <= self.requests and left_b + size <= self.nbytes:
                wait = t + SPAN - now
                break
        return 429, max(1, math.ceil(wait))


class Pacing:
    """DeliveryPacing: the rate a device sends at while 429s slow it down."""
    slowest, unpaced, gain = 1 / 300, 10.0, 1 / 100_000

    def __init__(self):
        self.rate = None
        self.last_send = None
        self.last_decrease = None
        self.last_increase = 0.0
        self.recent = []

    def next_send(self, now):
        if self.rate is None or self.last_send is None:
            return now
        return max(now, self.last_send + 1 / self.rate)

    def sent(self, now):
        self.last_send = now
        self.recent = (self.recent + [now])[-8:]

    def throttled(self, sent_at, now):
        if self.last_decrease is not None and sent_at < self.last_decrease:
            return
        measured = None
        if len(self.recent) >= 2 and self.recent[-1] > self.recent[0]:
            measured = (len(self.recent) - 1) / (self.recent[-1] - self.recent[0])
        start = self.rate if self.rate is not None else min(measured or 2.0, self.unpaced)
        self.rate = max(self.slowest, start / 2)
        self.last_decrease = self.last_increase = now

    def delivered(self, now):
        if self.rate is None:
            return
        grown = self.rate + self.gain * max(0, now - self.last_increase)
        self.last_increase = now
        self.rate = None if grown >= self.unpaced else grown


class Device:
    def __init__(self, policy, rnd, write):
        self.policy, self.rnd, self.write = policy, rnd, write
        self.pacing = Pacing()
        self.delivered = 0.0
        self.retry_at = None
        self.busy = False
        self.ceiling = 1.0
        self.last_throttle = None
        self.last_delivery = None
        self.target = None
        self.drained_at = None

    def pending(self, now):
        return math.floor(now / FLUSH) * FLUSH * self.write - self.delivered

    def new_call_at(self, now, size):
        """When a new (not resent) call of `size` bytes may start."""
        at = self.pacing.next_send(now)
        if self.policy == "current" and size < MAXCALL and self.last_throttle is not None \
                and now - self.last_throttle < 10 * SPAN and self.last_delivery is not None:
            until = self.last_delivery + 2 * SPAN
            if until > at:
                at = min(until, max(at, now + 10))
        return at

    def throttled(self, sent_at, now, retry_after):
        self.pacing.throttled(sent_at, now)
        self.last_throttle = now
        spread = SPAN if self.policy == "current" else min(30, max(2, retry_after / 2))
        return now + retry_after + self.rnd.uniform(0, spread)

    def failed(self, now):
        delay = self.rnd.uniform(0, self.ceiling)
        self.ceiling = min(300, self.ceiling * 2)
        return now + delay


def run(policy, devices, requests, nbytes, load, outage, seed):
    rnd = random.Random(seed)
    write = load * nbytes / devices / SPAN
    recovery = STEADY + outage
    rule = Rule(requests, nbytes, STEADY, recovery)
    fleet = [Device(policy, random.Random(seed * 100_003 + i), write) for i in range(devices)]
    events, order = [], 0

    def at(t, kind, d):
        nonlocal order
        order += 1
        heapq.heappush(events, (t, order, kind, d))

    for d in fleet:
        at(FLUSH + rnd.uniform(0, 0.5), "try", d)
    accepted, refused = [], []
    marked = False
    while events:
        t, _, kind, d = heapq.heappop(events)
        if t > recovery + 3 * 3600:
            break
        if not marked and t >= recovery:
            marked = True
            for x in fleet:
                x.target = math.floor(recovery / FLUSH) * FLUSH * write
        if kind == "try":
            if d.busy or (d.retry_at is not None and t < d.retry_at - 1e-9):
                continue
            size = min(MAXCALL, d.pending(t))
            if size <= 0:
                at((math.floor(t / FLUSH) + 1) * FLUSH + 0.01, "try", d)
                continue
            if d.retry_at is None:
                start = d.new_call_at(t, size)
                if start > t + 1e-9:
                    at(start, "try", d)
                    continue
            d.busy, d.retry_at = True, None
            d.sent_at, d.size = t, size
            d.pacing.sent(t)
            at(t + LATENCY, "answer", d)
        else:
            d.busy = False
            status, retry_after = rule.admit(d.size, t - LATENCY / 2)
            if status == 204:
                d.delivered += d.size
                d.ceiling = 1.0
                d.last_delivery = t
                d.pacing.delivered(t)
                accepted.append((t, d.size))
                if d.target is not None and d.drained_at is None and d.delivered >= d.target:
                    d.drained_at = t
                at(t, "try", d)
            elif status == 429:
                refused.append(t)
                d.retry_at = d.throttled(d.sent_at, t, retry_after)
                at(d.retry_at, "try", d)
            else:
                d.retry_at = d.failed(t)
                at(d.retry_at, "try", d)
        if marked and all(x.drained_at for x in fleet):
            break
    end = max(x.drained_at or t for x in fleet)
    seconds = end - recovery
    calls = [b for (u, b) in accepted if recovery <= u < end]
    throttled = [u for u in refused if recovery <= u < end]
    per_second = [0] * (int(seconds) + 1)
    for u in throttled:
        per_second[min(len(per_second) - 1, int(u - recovery))] += 1
    drains = sorted(x.drained_at - recovery for x in fleet if x.drained_at)
    return {
        "seconds": round(seconds),
        "bytes": sum(calls) / (seconds / SPAN) / nbytes,
        "calls": len(calls) / (seconds / SPAN) / requests,
        "share429": len(throttled) / max(1, len(throttled) + len(calls)),
        "periodic60": periodicity(per_second, 60),
        "peakToMean": max(per_second) / max(1e-9, statistics.mean(per_second)),
        "drainMedian": drains[len(drains) // 2],
        "drainMax": drains[-1],
    }


def periodicity(counts, lag):
    """Autocorrelation at `lag` after subtracting a centred moving average one lag wide (which keeps a component
    of that period and removes the trend)."""
    half = lag // 2
    trend = [statistics.mean(counts[max(0, i - half):i + half + 1]) for i in range(len(counts))]
    rest = [c - m for c, m in zip(counts, trend)]
    var = sum(x * x for x in rest)
    if var == 0 or len(rest) <= lag:
        return 0.0
    return sum(rest[i] * rest[i + lag] for i in range(len(rest) - lag)) / var


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--fleet-equivalent", type=int, default=20_000,
                    help="the budget is the real rule's (12,000 requests, 2 GB per minute) times devices / this")
    ap.add_argument("--load", type=float, default=0.6, help="share of the byte budget the devices write")
    ap.add_argument("--outage-minutes", type=float, default=10)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--policies", default="previous,current")
    a = ap.parse_args()
    scale = a.devices / a.fleet_equivalent
    requests, nbytes = round(12_000 * scale), round(2_000_000_000 * scale)
    print(f"{a.devices} devices, budget {requests} requests and {nbytes:,} bytes per minute, load {a.load:.0%}, "
          f"outage {a.outage_minutes:g} min")
    for policy in a.policies.split(","):
        for seed in range(1, a.seeds + 1):
            r = run(policy, a.devices, requests, nbytes, a.load, a.outage_minutes * 60, seed)
            print(f"  {policy:9} seed {seed}: recovery {r['seconds']:5d} s, bytes {r['bytes']:4.0%} calls "
                  f"{r['calls']:4.0%} of the budget, 429s {r['share429']:4.0%} of calls, periodicity at 60 s "
                  f"{r['periodic60']:5.2f}, 429s peak/mean {r['peakToMean']:4.1f}, drain median "
                  f"{r['drainMedian']:4.0f} s max {r['drainMax']:4.0f} s")


if __name__ == "__main__":
    main()
