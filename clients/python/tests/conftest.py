"""A real `rootlab serve` for the client's tests, started here on a free port (ROOTLAB_BIN, else
target/{release,debug}/rootlab of this repository or of $CARGO_TARGET_DIR) and stopped with SIGTERM.
`server_url` uses the default store; `start_rootlab` starts one with other flags (and its own
ROOTLAB_STATE_DIR, for the image tests that import)."""

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest
import requests

REPO = Path(__file__).resolve().parents[3]


def rootlab_binary() -> str:
    if os.environ.get("ROOTLAB_BIN"):
        return os.environ["ROOTLAB_BIN"]
    targets = [Path(os.environ["CARGO_TARGET_DIR"])] if os.environ.get("CARGO_TARGET_DIR") else []
    for target in targets + [REPO / "target"]:
        for profile in ("release", "debug"):
            if (target / profile / "rootlab").exists():
                return str(target / profile / "rootlab")
    raise RuntimeError("no rootlab binary: build it (cargo build -p rootlab) or set ROOTLAB_BIN")


@contextmanager
def start_rootlab(*flags: str, env: Optional[dict[str, str]] = None) -> Iterator[str]:
    """`rootlab serve` with these flags (and env added), its URL once ready; stopped on exit."""
    proc = subprocess.Popen(
        [rootlab_binary(), "serve", "--addr", "127.0.0.1:0", "--rate-limit", "0", *flags],
        stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"http://\S+", proc.stdout.readline())
        assert match, "rootlab serve did not print its address"
        url = match.group(0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                # Ready: every worker up and the sandbox self-test passed.
                health = requests.get(url + "/healthz", timeout=5).json()
                if health["status"] == "ok" and requests.get(url + "/readyz", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("rootlab serve never became ready")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


@pytest.fixture(scope="session")
def server_url():
    with start_rootlab("--workers", "2") as url:
        yield url
