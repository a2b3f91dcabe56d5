"""Live tests: a real `rootlab serve` over real HTTP, real workers, real sandboxes.

Every endpoint, every error class, streaming, cancellation (client gone, DELETE), a worker killed
with SIGKILL mid-run, 100 concurrent clients, graceful shutdown; after each, the host must be clean.
"""

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import descendants
from hostcheck import HostState, wait_clean

TMPFS = {
    "title": "tmpfs on /tmp",
    "host": {
        "root_propagation": "private",
        "files": [{"type": "file", "path": "/tmp/host-file.yaml", "content": "x"}],
    },
    "steps": [
        {"op": "container", "name": "c1"},
        {"op": "tmpfs", "in": "c1", "target": "/tmp", "source": "none"},
        {"op": "snapshot", "label": "after mount", "paths": ["/tmp"]},
    ],
}


def sleeping(seconds: int) -> dict:
    """A spec whose run lasts `seconds` (a real `sleep` inside the sandbox)."""
    return {"title": "sleeper", "steps": [{"op": "run", "argv": ["/bin/sleep", str(seconds)]}]}


def error_of(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    return error


def sse_events(response: requests.Response):
    """(event name, parsed data) pairs of a text/event-stream answer, as they arrive."""
    name = None
    for raw in response.iter_lines():
        line = raw.decode()
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            yield name, json.loads(line[len("data: "):])


def view(result: dict, label: str, actor: str) -> dict:
    snap = next(s for s in result["snapshots"] if s["label"] == label)
    return next(v for v in snap["views"] if v["actor"] == actor)


def busy_worker(server) -> int:
    """The worker that has a sandbox below it right now."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in server.workers():
            if descendants(pid):
                return pid
        time.sleep(0.02)
    raise AssertionError("no worker is running a sandbox")


# ---------------------------------------------------------------- every endpoint


def test_health_metrics_docs(server):
    health = requests.get(server.url + "/healthz").json()
    assert health["status"] == "ok", health
    assert health["sandbox"]["user_namespaces"] and health["sandbox"]["overlayfs"]
    assert health["sandbox"]["images"], health
    assert health["workers"]["alive"] == len(server.workers())
    metrics = server.metrics()
    assert "rootlab_runs_in_flight" in metrics
    doc = requests.get(server.api + "/openapi.json").json()
    assert "/api/v1/run" in doc["paths"]
    page = requests.get(server.api + "/docs")
    assert page.ok and "text/html" in page.headers["content-type"] and "RunResult" in page.text
    # The playground: the built frontend, or a page saying how to build it (never blank).
    home = requests.get(server.url + "/")
    assert home.status_code in (200, 503) and "text/html" in home.headers["content-type"]
    assert "<html" in home.text.lower() or "<!doctype" in home.text.lower()


def test_presets_list_get_and_run(server):
    presets = requests.get(server.api + "/presets").json()
    ids = [p["id"] for p in presets]
    assert "seed-tmpfs" in ids
    preset = requests.get(server.api + "/presets/seed-tmpfs").json()
    assert preset["spec"]["steps"]
    r = requests.post(server.api + "/presets/seed-tmpfs/run")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed"


def test_run_shows_what_the_kernel_did(server):
    state = HostState(server.pid, descendants)
    r = requests.post(server.api + "/run", json=TMPFS)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "completed", result.get("message")
    assert result["kernel_release"] == os.uname().release
    assert all(s["outcome"]["status"] == "ok" for s in result["steps"]), result["steps"]
    container = view(result, "after mount", "c1")
    tmp_mounts = [m for m in container["mounts"] if m["target"] == "/tmp"]
    assert tmp_mounts and tmp_mounts[-1]["fstype"] == "tmpfs" and tmp_mounts[-1]["source"] == "none"
    assert container["trees"][0]["entries"] == [], "the container's /tmp is a fresh tmpfs"
    host = view(result, "after mount", "host")
    assert [e["path"] for e in host["trees"][0]["entries"]] == ["/tmp/host-file.yaml"]
    assert result["duration_us"] > 0
    assert wait_clean(state, server.pid, descendants) == []


def test_validate(server):
    r = requests.post(server.api + "/validate", json=TMPFS)
    assert r.json() == {"valid": True, "fields": []}
    bad = {"steps": [{"op": "tmpfs", "target": "../../etc"}]}
    r = requests.post(server.api + "/validate", json=bad)
    assert r.status_code == 200
    assert r.json()["valid"] is False
    assert r.json()["fields"][0]["field"] == "steps[0].target"


def test_stream_events_in_order(server):
    with requests.post(server.api + "/run/stream", json=TMPFS, stream=True) as r:
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/event-stream")
        assert len(r.headers["x-run-id"]) == 32 and len(r.headers["x-cancel-token"]) == 32
        events = list(sse_events(r))
    names = [name for name, _ in events]
    assert all(name == data["event"] for name, data in events)
    assert names[0] in ("queued", "started")
    assert names[-1] == "finished"
    assert names.count("step_finished") == len(TMPFS["steps"])
    assert events[-1][1]["result"]["status"] == "completed"


# ---------------------------------------------------------------- every error class


def test_error_classes(server):
    api = server.api
    error_of(requests.post(api + "/run", data="{nope", headers={"content-type": "application/json"}), 400, "bad_json")
    error_of(requests.post(api + "/run", data=json.dumps(TMPFS), headers={"content-type": "text/plain"}), 415, "unsupported_media_type")
    huge = {"title": "x", "steps": [], "host": {"files": [{"type": "file", "path": "/a", "content": "y" * 300_000}]}}
    error_of(requests.post(api + "/run", json=huge), 413, "payload_too_large")
    err = error_of(requests.post(api + "/run", json={"steps": [{"op": "tmpfs", "target": "rel"}]}), 422, "invalid_spec")
    assert err["fields"][0]["field"] == "steps[0].target"
    error_of(requests.get(api + "/nothing-here"), 404, "not_found")
    error_of(requests.get(server.url + "/api/v9/run"), 404, "not_found")
    error_of(requests.get(api + "/presets/nope"), 404, "not_found")
    error_of(requests.delete(api + "/runs/99999999"), 404, "not_found")
    error_of(requests.put(api + "/run", json=TMPFS), 405, "method_not_allowed")


def test_busy_is_429_with_retry_after(start_server):
    s = start_server("--workers", "1", "--queue", "1", "--rate-limit", "0")
    state = HostState(s.pid, descendants)
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(requests.post, s.api + "/run", json=sleeping(2))
        busy_worker(s)
        queued = pool.submit(requests.post, s.api + "/run", json=TMPFS)
        deadline = time.monotonic() + 5
        while s.metrics()["rootlab_runs_queued"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        r = requests.post(s.api + "/run", json=TMPFS)
        error_of(r, 429, "busy")
        assert int(r.headers["retry-after"]) >= 1
        assert running.result().status_code == 200
        assert queued.result().status_code == 200
    assert s.metrics()['rootlab_rejected_total{reason="busy"}'] == 1
    assert wait_clean(state, s.pid, descendants) == []


def test_rate_limit_is_429_with_retry_after(start_server):
    s = start_server("--workers", "1", "--rate-limit", "1", "--rate-burst", "2")
    codes = [requests.post(s.api + "/validate", json=TMPFS).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = requests.post(s.api + "/validate", json=TMPFS)
    error_of(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1


def test_timeout_is_504_and_the_worker_is_replaced(start_server):
    s = start_server("--workers", "1", "--run-timeout", "700", "--rate-limit", "0")
    state = HostState(s.pid, descendants)
    before = s.workers()
    error_of(requests.post(s.api + "/run", json=sleeping(20)), 504, "timeout")
    s.wait_healthy()
    assert s.workers() != before, "the timed-out worker was replaced"
    assert requests.post(s.api + "/run", json=TMPFS).status_code == 200
    assert wait_clean(state, s.pid, descendants) == []


# ---------------------------------------------------------------- cancellation and crashes


def test_client_disconnect_cancels_the_run(server):
    state = HostState(server.pid, descendants)
    restarts = server.metrics()["rootlab_worker_restarts_total"]
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(server.api + "/run", json=sleeping(30), timeout=1.0)
    deadline = time.monotonic() + 10
    while server.metrics()["rootlab_worker_restarts_total"] == restarts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.metrics()["rootlab_worker_restarts_total"] == restarts + 1
    server.wait_healthy()
    assert wait_clean(state, server.pid, descendants) == []
    assert requests.post(server.api + "/run", json=TMPFS).status_code == 200


def test_delete_cancels_a_streaming_run(server):
    state = HostState(server.pid, descendants)
    with requests.post(server.api + "/run/stream", json=sleeping(30), stream=True) as r:
        run_id = r.headers["x-run-id"]
        token = {"x-cancel-token": r.headers["x-cancel-token"]}
        assert len(run_id) == 32 and int(run_id, 16) >= 0, run_id
        events = sse_events(r)
        name, _ = next(events)
        while name != "started":
            name, _ = next(events)
        # Only the requester holds the token: nobody else cancels its run.
        err = error_of(requests.delete(f"{server.api}/runs/{run_id}"), 403, "forbidden")
        assert err["fields"][0]["field"] == "X-Cancel-Token"
        other = {"x-cancel-token": "0" * 32}
        error_of(requests.delete(f"{server.api}/runs/{run_id}", headers=other), 403, "forbidden")
        assert requests.delete(f"{server.api}/runs/{run_id}", headers=token).status_code == 204
        rest = list(events)
    assert rest[-1][0] == "error" and rest[-1][1]["error"]["code"] == "cancelled", rest
    err = error_of(requests.delete(f"{server.api}/runs/{run_id}", headers=token), 404, "not_found")
    assert err["fields"][0]["field"] == "run_id"
    server.wait_healthy()
    assert wait_clean(state, server.pid, descendants) == []


def test_killed_worker_is_a_json_error_and_the_server_recovers(server):
    state = HostState(server.pid, descendants)
    result = {}
    t = threading.Thread(target=lambda: result.update(r=requests.post(server.api + "/run", json=sleeping(30))))
    t.start()
    victim = busy_worker(server)
    os.kill(victim, signal.SIGKILL)
    t.join(timeout=20)
    error = error_of(result["r"], 502, "worker_died")
    assert "died" in error["message"]
    server.wait_healthy()
    assert victim not in server.workers()
    assert wait_clean(state, server.pid, descendants) == []
    assert requests.post(server.api + "/run", json=TMPFS).json()["status"] == "completed"


def test_killed_worker_ends_a_stream_with_an_error_event(server):
    state = HostState(server.pid, descendants)
    with requests.post(server.api + "/run/stream", json=sleeping(30), stream=True) as r:
        events = sse_events(r)
        name, _ = next(events)
        while name != "started":
            name, _ = next(events)
        os.kill(busy_worker(server), signal.SIGKILL)
        rest = list(events)
    assert rest[-1][0] == "error" and rest[-1][1]["error"]["code"] == "worker_died", rest
    server.wait_healthy()
    assert wait_clean(state, server.pid, descendants) == []


# ---------------------------------------------------------------- load


def server_errors(metrics: dict) -> float:
    return sum(v for k, v in metrics.items() if k.startswith('rootlab_http_responses_total{status="5'))


def test_100_concurrent_clients(server):
    state = HostState(server.pid, descendants)
    workers = requests.get(server.url + "/healthz").json()["workers"]["configured"]
    server_errors_before = server_errors(server.metrics())
    statuses = []

    def client(_):
        for _ in range(100):
            r = requests.post(server.api + "/run", json=TMPFS)
            if r.status_code != 429:
                statuses.append(r.status_code)
                return r
            time.sleep(float(r.headers.get("retry-after", "1")) / 10)
        raise AssertionError("still busy after 100 tries")

    with ThreadPoolExecutor(100) as pool:
        responses = list(pool.map(client, range(100)))
    assert statuses == [200] * 100, sorted(set(statuses))
    assert all(r.json()["status"] == "completed" for r in responses)
    metrics = server.metrics()
    assert 1 <= metrics["rootlab_runs_in_flight_max"] <= workers, metrics
    assert metrics["rootlab_runs_in_flight"] == 0
    assert server_errors(metrics) == server_errors_before, metrics
    assert wait_clean(state, server.pid, descendants) == []


# ---------------------------------------------------------------- shutdown


def test_sigterm_finishes_runs_and_leaves_nothing(start_server):
    s = start_server("--workers", "2", "--rate-limit", "0", "--shutdown-grace", "5000")
    state = HostState(s.pid, descendants)
    workers = s.workers()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(requests.post, s.api + "/run", json=sleeping(1))
        busy_worker(s)
        s.proc.send_signal(signal.SIGTERM)
        r = running.result()
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    assert s.proc.wait(timeout=20) == 0
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}"), f"worker {pid} outlived the server"
    assert wait_clean(state, s.pid, descendants) == []


def test_sigterm_cancels_runs_that_outlast_the_grace_period(start_server):
    s = start_server("--workers", "1", "--rate-limit", "0", "--shutdown-grace", "300")
    state = HostState(s.pid, descendants)
    workers = s.workers()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(requests.post, s.api + "/run", json=sleeping(30))
        busy_worker(s)
        s.proc.send_signal(signal.SIGTERM)
        r = running.result(timeout=20)
    error_of(r, 503, "shutting_down")
    assert s.proc.wait(timeout=20) == 0
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}"), f"worker {pid} outlived the server"
    assert wait_clean(state, s.pid, descendants) == []
