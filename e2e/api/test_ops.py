"""Live tests of what operators and deployments rely on: /livez and /readyz (a sandbox that
cannot mount /proc is not ready though its workers are up; SIGKILLed idle workers fail readiness
until replaced), request ids, compression and revalidation. States are polled with generous
deadlines, never timed."""

import os
import signal
import stat
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import rootlab_binary

TMPFS = {"steps": [{"op": "container", "name": "c1"}, {"op": "tmpfs", "in": "c1", "target": "/tmp"}]}


def poll(url: str, what: str, ok, timeout: float = 60.0) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(url, timeout=10)
        if ok(r):
            return r
        assert time.monotonic() < deadline, f"timed out waiting until {what}: {r.status_code} {r.text}"
        time.sleep(0.05)


def wrapper(tmp_path: Path, body: str) -> str:
    """A worker executable that runs `body` and ends by exec'ing the real worker."""
    worker = str(Path(rootlab_binary()).with_name("rootlab-worker"))
    script = tmp_path / "worker.sh"
    script.write_text(f"#!/bin/sh\n{body.replace('WORKER', worker)}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_live_and_ready(server):
    r = requests.get(server.url + "/livez")
    assert r.status_code == 200 and r.json()["status"] == "alive"
    r = requests.get(server.url + "/readyz")
    assert r.status_code == 200, r.text
    ready = r.json()
    assert ready["ready"] is True and ready["reasons"] == []
    assert ready["self_test"]["state"] == "passed"
    assert ready["workers"]["alive"] == ready["workers"]["configured"]


@pytest.mark.skipif(os.geteuid() != 0, reason="masking /proc for the worker needs root")
def test_a_sandbox_that_cannot_mount_proc_is_not_ready(start_server, tmp_path):
    # As Docker does without systempaths=unconfined: runs fail, workers are fine.
    worker = wrapper(
        tmp_path,
        "exec unshare -m --propagation private sh -c "
        "'mount --bind /dev/null /proc/uptime && exec \"$0\"' WORKER",
    )
    s = start_server("--workers", "1", "--worker", worker, ready=False)
    r = poll(s.url + "/readyz", "the self-test ran", lambda r: r.json()["self_test"]["state"] != "pending")
    assert r.status_code == 503, r.text
    assert "/proc" in r.json()["self_test"]["error"]
    health = requests.get(s.url + "/healthz")
    assert health.status_code == 503 and health.json()["status"] == "down", health.text
    assert health.json()["workers"]["alive"] == 1
    assert requests.get(s.url + "/livez").status_code == 200


def test_killed_idle_workers_fail_readiness_until_replaced(start_server, tmp_path):
    broken = tmp_path / "broken"
    worker = wrapper(tmp_path, f"[ -e {broken} ] && exit 1\nexec WORKER")
    s = start_server("--workers", "2", "--worker", worker)
    victims = s.workers()
    assert len(victims) == 2
    broken.touch()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    r = poll(s.url + "/readyz", "not ready", lambda r: r.status_code == 503)
    assert any("no worker is alive" in reason for reason in r.json()["reasons"]), r.text
    health = poll(s.url + "/healthz", "both deaths counted", lambda r: r.json()["workers"]["lost_idle"] == 2)
    assert health.status_code == 503 and health.json()["workers"]["alive"] == 0, health.text
    broken.unlink()
    poll(s.url + "/readyz", "ready, every worker back",
         lambda r: r.status_code == 200 and r.json()["workers"]["alive"] == 2)
    assert not set(victims) & set(s.workers())
    r = requests.post(s.api + "/run", json=TMPFS)
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text


def test_request_ids_are_echoed_or_made(server):
    mine = "e2e-" + uuid.uuid4().hex
    r = requests.get(server.api + "/presets", headers={"x-request-id": mine})
    assert r.headers["x-request-id"] == mine
    made = requests.get(server.api + "/presets").headers["x-request-id"]
    assert uuid.UUID(made)
    r = requests.post(server.api + "/run", data="{", headers={"content-type": "application/json", "x-request-id": mine})
    assert r.status_code == 400 and r.headers["x-request-id"] == mine


def test_compression_and_revalidation(server):
    url = server.api + "/openapi.json"
    r = requests.get(url, headers={"accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.json()["openapi"].startswith("3.")
    r = requests.get(url, headers={"accept-encoding": "br"})
    assert r.headers["content-encoding"] == "br"
    tag = r.headers["etag"]
    assert r.headers["cache-control"] == "no-cache"
    again = requests.get(url, headers={"if-none-match": tag})
    assert again.status_code == 304 and again.content == b""
    preset = requests.get(server.api + "/presets/seed-tmpfs")
    assert requests.get(server.api + "/presets/seed-tmpfs", headers={"if-none-match": preset.headers["etag"]}).status_code == 304
    # The event stream is never compressed (a compressor would hold events back).
    with requests.post(server.api + "/run/stream", json=TMPFS, stream=True, headers={"accept-encoding": "gzip, br"}) as s:
        assert "content-encoding" not in s.headers
        for _ in s.iter_lines():
            pass
