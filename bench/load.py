#!/usr/bin/env python3
"""Load benchmark of `rootlab serve`: N concurrent HTTP clients run seed-tmpfs for a fixed number
of requests. Prints throughput, client-side latency p50/p99, the engine's own per-experiment time
(`duration_us` of each result, measured in the same run) and the HTTP-only baseline (GET of the
preset list at the same concurrency), plus server RSS idle and under load.

    bench/load.py [--clients 32] [--requests 3000] [--workers N] [--bin target/release/rootlab]
    bench/load.py --url http://127.0.0.1:7878 --pid <server pid>   # an already running server

Needs aiohttp (pip install aiohttp; e2e/api/requirements.txt has it).
"""

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]

# Lesson 2 as the seed-tmpfs preset shows it; used only when the server has no such preset.
SEED_TMPFS_FALLBACK = {
    "title": "tmpfs on /tmp",
    "host": {"files": [{"type": "file", "path": "/tmp/kubectl-edit-1.yaml", "content": "x"}]},
    "steps": [
        {"op": "container", "name": "c1"},
        {"op": "tmpfs", "in": "c1", "target": "/tmp", "source": "none"},
        {"op": "snapshot", "label": "after mount", "paths": ["/tmp"]},
    ],
}


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            pass
    return sorted(found)


class RssSampler(threading.Thread):
    """Peak RSS of the server process (and, separately, of its workers) while the load runs."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.workers_peak, self.stop = pid, 0.0, 0.0, False

    def run(self):
        while not self.stop:
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
                self.workers_peak = max(self.workers_peak, sum(rss_mb(c) for c in children(self.pid)))
            except (OSError, ValueError):
                pass
            time.sleep(0.05)


async def hammer(url: str, clients: int, total: int, body: bytes | None):
    """`total` requests over `clients` connections; (latencies s, engine µs, statuses, wall s)."""
    latencies, engine_us, statuses = [], [], {}
    remaining = total
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"content-type": "application/json"}

    async def client(session):
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            if body is None:
                async with session.get(url) as r:
                    await r.read()
                    status = r.status
            else:
                async with session.post(url, data=body, headers=headers) as r:
                    payload = await r.read()
                    status = r.status
                    if status == 200:
                        engine_us.append(json.loads(payload)["duration_us"])
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1

    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - t0
    return latencies, engine_us, statuses, wall


def start_server(binary: str, workers: int | None):
    flags = ["serve", "--addr", "127.0.0.1:0", "--rate-limit", "0", "--queue", "1024"]
    if workers:
        flags += ["--workers", str(workers)]
    proc = subprocess.Popen([binary, *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = re.search(r"http://\S+", proc.stdout.readline()).group(0)
    for _ in range(600):
        try:
            health = json.load(urllib.request.urlopen(url + "/healthz"))
            if health["workers"]["alive"] == health["workers"]["configured"]:
                break
        except OSError:
            pass
        time.sleep(0.1)
    return proc, url


def seed_tmpfs_spec(url: str) -> tuple[dict, str]:
    try:
        preset = json.load(urllib.request.urlopen(url + "/api/v1/presets/seed-tmpfs"))
        return preset["spec"], "preset seed-tmpfs"
    except OSError:
        return SEED_TMPFS_FALLBACK, "inline lesson-2 spec (server has no seed-tmpfs preset)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--workers", type=int, default=None, help="server --workers (default: cores)")
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "rootlab"))
    ap.add_argument("--url")
    ap.add_argument("--pid", type=int)
    args = ap.parse_args()

    proc = None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        proc, url = start_server(args.bin, args.workers)
        pid = proc.pid
    try:
        spec, spec_name = seed_tmpfs_spec(url)
        body = json.dumps(spec).encode()
        health = json.load(urllib.request.urlopen(url + "/healthz"))
        idle_rss = rss_mb(pid)
        idle_workers_rss = sum(rss_mb(c) for c in children(pid))
        asyncio.run(hammer(url + "/api/v1/run", args.clients, args.warmup, body))

        base_lat, _, base_status, base_wall = asyncio.run(
            hammer(url + "/api/v1/presets", args.clients, args.requests, None))
        sampler = RssSampler(pid)
        sampler.start()
        lat, engine, statuses, wall = asyncio.run(
            hammer(url + "/api/v1/run", args.clients, args.requests, body))
        sampler.stop = True
        sampler.join()
        metrics = urllib.request.urlopen(url + "/metrics").read().decode()
        metric = lambda name: float(re.search(rf"^{name} (\S+)", metrics, re.M).group(1))
        in_flight_max = int(metric("rootlab_runs_in_flight_max"))
        # Accept-to-result time inside the server (queueing included), over every run so far.
        server_mean_ms = 1000 * metric("rootlab_run_duration_seconds_sum") / metric("rootlab_run_duration_seconds_count")
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    ms = lambda s: s * 1000
    p50, p99 = ms(percentile(lat, 50)), ms(percentile(lat, 99))
    e50, e99 = percentile(engine, 50) / 1000, percentile(engine, 99) / 1000
    b50 = ms(percentile(base_lat, 50))
    print(f"rootlab serve load benchmark: {args.clients} clients x {args.requests} requests of {spec_name}")
    print(f"  machine: {os.cpu_count()} cores, kernel {os.uname().release}; server workers: {health['workers']['configured']}")
    print(f"  statuses: {statuses}   (max experiments in flight: {in_flight_max})")
    print(f"  throughput:        {args.requests / wall:8.1f} exp/s   (target >= 300)")
    print(f"  latency p50 / p99: {p50:8.2f} / {p99:.2f} ms   (targets <= 8 / <= 40 ms)")
    print(f"  engine duration_us p50 / p99 (same run): {e50:.2f} / {e99:.2f} ms")
    print(f"  server-side accept-to-result mean (from /metrics, queueing included): {server_mean_ms:.2f} ms; "
          f"engine mean {statistics.mean(engine) / 1000:.2f} ms")
    print(f"  baseline GET /api/v1/presets: {args.requests / base_wall:8.1f} req/s, p50 {b50:.2f} ms  {base_status}")
    print(f"  ratio HTTP p50 / engine p50: {p50 / e50:.2f}x ; run p50 / GET p50: {p50 / b50:.2f}x")
    print(f"  server RSS idle / under load (peak): {idle_rss:.1f} / {sampler.peak:.1f} MB   (target well under 100 MB)")
    print(f"  workers' RSS idle / under load (peak, all): {idle_workers_rss:.1f} / {sampler.workers_peak:.1f} MB")
    bad = {s: n for s, n in statuses.items() if s != 200}
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
