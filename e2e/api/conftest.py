"""Live-API fixtures: a real `rootlab serve` (real worker pool, real sandboxes) over real HTTP.

The suite uses the server given by ROOTLAB_URL + ROOTLAB_PID (run.sh starts it) or starts its own;
tests that need a particular configuration (tiny queue, rate limit, short timeout) start a
dedicated server with `start_server(...)`.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def rootlab_binary() -> str:
    if os.environ.get("ROOTLAB_BIN"):
        return os.environ["ROOTLAB_BIN"]
    for profile in ("release", "debug"):
        candidate = REPO / "target" / profile / "rootlab"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("no rootlab binary: build it (cargo build -p rootlab) or set ROOTLAB_BIN")


class Server:
    """A running `rootlab serve`, stopped (SIGTERM, then checked) by `stop()`."""

    def __init__(self, url: str, pid: int, proc: subprocess.Popen | None = None):
        self.url = url.rstrip("/")
        self.api = self.url + "/api/v1"
        self.pid = pid
        self.proc = proc

    def workers(self) -> list[int]:
        return children(self.pid)

    def metrics(self) -> dict[str, float]:
        text = requests.get(self.url + "/metrics", timeout=10).text
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def wait_healthy(self, timeout: float = 60.0) -> dict:
        """Wait until every worker is up and the server is ready (its sandbox self-test passed)."""
        deadline = time.monotonic() + timeout
        health = {}
        while time.monotonic() < deadline:
            try:
                r = requests.get(self.url + "/healthz", timeout=5)
                health = r.json()
                whole = health["workers"]["alive"] == health["workers"]["configured"]
                if whole and requests.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return health
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not healthy after {timeout}s: {health}")

    def stop(self, timeout: float = 30.0) -> int:
        assert self.proc is not None, "only servers started here are stopped here"
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code


def start(
    *flags: str, env: dict | None = None, pass_fds: tuple[int, ...] = (), ready: bool = True
) -> Server:
    """Start `rootlab serve` on a free port and wait until every worker is up and (unless
    `ready=False`, for a server meant to be broken) it is ready; `pass_fds` are left open in it
    (without close-on-exec), as a supervisor may do."""
    proc = subprocess.Popen(
        [rootlab_binary(), "serve", "--addr", "127.0.0.1:0", *flags],
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        env={**os.environ, **(env or {})},
        pass_fds=pass_fds,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://\S+", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"rootlab serve did not print its address: {line!r}")
    server = Server(match.group(0), proc.pid, proc)
    if ready:
        server.wait_healthy()
    return server


def children(pid: int) -> list[int]:
    """Children of every thread of `pid` (tokio spawns workers from any of its threads)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            pass
    return sorted(set(found))


def descendants(pid: int) -> list[int]:
    out = []
    for child in children(pid):
        out.append(child)
        out.extend(descendants(child))
    return out


@pytest.fixture(scope="session")
def server():
    if os.environ.get("ROOTLAB_URL"):
        s = Server(os.environ["ROOTLAB_URL"], int(os.environ["ROOTLAB_PID"]))
        s.wait_healthy()
        yield s
        return
    s = start("--rate-limit", "0", "--workers", "2")
    yield s
    assert s.stop() == 0


@pytest.fixture
def start_server():
    started = []

    def _start(*flags, env=None, ready=True):
        s = start(*flags, env=env, ready=ready)
        started.append(s)
        return s

    yield _start
    for s in started:
        if s.proc.poll() is None:
            assert s.stop() == 0
