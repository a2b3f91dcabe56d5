#!/usr/bin/env python3
"""rootlab over HTTP, end to end, against bubblewrap doing the same work, interleaved in one run
(issue 12's table), plus throughput rows. Python standard library only.

Rows (medians of N interleaved rounds; ratios are medians of the per-round ratios, paired):
  kernel work only   POST /api/v1/run: lab host + container + tmpfs on /tmp + snapshot of two views
                     vs `bwrap --unshare-all --ro-bind <tools> / --tmpfs /tmp --proc /proc --dev /dev true`
  seed-tmpfs         POST /api/v1/presets/seed-tmpfs/run (its two programs)
                     vs the same programs under bwrap: sh -c 'ls -A /tmp; mount -l | grep tmpfs'
Throughput: the kernel-only request from 1, 2, 4 and 32 clients (keep-alive), requests/s and p99.

    bench/http_vs_bwrap.py [--rounds 150] [--seconds 5] [--workers 2] [--bin target/release/rootlab]

Starts its own `rootlab serve` (release build recommended: `cargo build --release -p rootlab`)
with the default state dir, whose `tools` image bwrap uses as its root.
"""

import argparse
import glob
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

KERNEL_ONLY = {
    "title": "kernel work only",
    "host": {"image": "tools", "root_propagation": "private"},
    "steps": [
        {"op": "container", "name": "c1"},
        {"op": "tmpfs", "in": "c1", "target": "/tmp"},
        {"op": "snapshot", "label": "s", "views": ["host", "c1"], "paths": ["/tmp"]},
    ],
}
PROGRAMS = ["sh", "-c", "ls -A /tmp; mount -l | grep tmpfs"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, workers):
    port = free_port()
    proc = subprocess.Popen(
        [binary, "serve", "--addr", f"127.0.0.1:{port}", "--rate-limit", "0",
         "--workers", str(workers), "--queue", "256"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit("the server did not become ready")


class Client:
    """One keep-alive connection."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        start = time.perf_counter()
        self.conn.request("POST", path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {payload[:200]!r}")
        return elapsed


def bwrap(tools, argv):
    cmd = ["bwrap", "--unshare-all", "--ro-bind", tools, "/", "--tmpfs", "/tmp",
           "--proc", "/proc", "--dev", "/dev", *argv]
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def table(rounds, port, tools):
    client = Client(port)
    rows = {
        "kernel": ([], lambda: client.post("/api/v1/run", KERNEL_ONLY)),
        "bwrap true": ([], lambda: bwrap(tools, ["true"])),
        "seed-tmpfs": ([], lambda: client.post("/api/v1/presets/seed-tmpfs/run")),
        "bwrap programs": ([], lambda: bwrap(tools, PROGRAMS)),
    }
    for i in range(rounds + 5):
        for samples, once in rows.values():
            t = once()
            if i >= 5:
                samples.append(t)
    ms = lambda s: statistics.median(s) * 1000
    paired = lambda a, b: statistics.median(x / y for x, y in zip(rows[a][0], rows[b][0]))
    print(f"\n{rounds} interleaved rounds (+5 warm-up), medians; ratio = median of paired ratios")
    print(f"{'work':<48} {'rootlab HTTP':>13} {'bwrap':>10} {'ratio':>7}")
    for name, ours, theirs, what in [
        ("kernel work only / bwrap ... true", "kernel", "bwrap true", "kernel"),
        ("seed-tmpfs / the same programs under bwrap", "seed-tmpfs", "bwrap programs", "programs"),
    ]:
        print(f"{name:<48} {ms(rows[ours][0]):>11.2f}ms {ms(rows[theirs][0]):>8.2f}ms "
              f"{paired(ours, theirs):>7.2f}")


def throughput(port, clients, seconds):
    latencies, errors = [], []
    stop = time.perf_counter() + seconds

    def loop():
        c = Client(port)
        while time.perf_counter() < stop:
            try:
                latencies.append(c.post("/api/v1/run", KERNEL_ONLY))
            except Exception as e:  # a refused request still counts against throughput
                errors.append(str(e))
                c = Client(port)

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = sorted(latencies)
    p99 = lat[max(0, int(len(lat) * 0.99) - 1)] * 1000 if lat else float("nan")
    print(f"{clients:>3} client{'s' if clients > 1 else ' '}  {len(lat) / wall:>7.1f} req/s  "
          f"p50 {statistics.median(lat) * 1000 if lat else float('nan'):>6.2f} ms  "
          f"p99 {p99:>6.2f} ms  errors {len(errors)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=150)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bin", default=str(REPO / "target/release/rootlab"))
    args = ap.parse_args()
    proc, port = start_server(args.bin, args.workers)
    try:
        state = os.environ.get("ROOTLAB_STATE_DIR", "/var/lib/rootlab")
        tools = sorted(glob.glob(f"{state}/images/tools-*"))
        if not tools:
            sys.exit(f"no tools image under {state}/images (run `rootlab run seed-tmpfs` once)")
        print(f"rootlab {args.bin}, {args.workers} workers; bwrap root {tools[-1]}; "
              f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M:%S')}")
        table(args.rounds, port, tools[-1])
        print(f"\nThroughput of the kernel-only request over HTTP ({args.seconds:.0f} s each):")
        for clients in (1, 2, 4, 32):
            throughput(port, clients, args.seconds)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
