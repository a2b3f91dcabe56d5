"""The server as an attacker on a workshop's demo server sees it: run steps that go after the
server's environment and descriptors, signal everything they can name, and a server that dies or
stops with work queued. The kernel-level attacks (seccomp, /proc of the engine, ABIs) are in
backend/tests/security.rs; these check what reaches the HTTP client and the server's processes.
"""

import os
import signal
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import descendants, start
from hostcheck import HostState, wait_clean

SECRET = "ROOTLAB_E2E_SECRET"
SECRET_VALUE = "s3cr3t-canary-4b1d"
CANARY = "canary-file-content-9e2c"


def shell(*lines: str) -> dict:
    return {"title": "attacker", "steps": [{"op": "run", "argv": ["sh", "-c", l]} for l in lines]}


def outputs(result: dict) -> list[str]:
    return [s["output"]["stdout"] + s["output"]["stderr"] for s in result["steps"]]


def canary_fd() -> int:
    """A root-only file, open without close-on-exec, as a supervisor might hand one down."""
    fd, path = tempfile.mkstemp(prefix="rootlab-canary-")
    os.write(fd, CANARY.encode())
    os.fchmod(fd, stat.S_IRUSR)
    os.unlink(path)
    os.set_inheritable(fd, True)
    return fd


def test_no_secret_or_inherited_descriptor_reaches_a_program(start_server):
    fd = canary_fd()
    try:
        s = start("--workers", "1", "--rate-limit", "0",
                  env={SECRET: SECRET_VALUE}, pass_fds=(fd,))
    finally:
        os.close(fd)
    try:
        state = HostState(s.pid, descendants)
        spec = shell(
            "ls /proc/$$/fd | tr '\\n' ' '",
            f"cat /proc/self/fd/{fd}; echo",
            "cat /proc/1/environ; echo; grep -l " + SECRET_VALUE[:-1] + "[" + SECRET_VALUE[-1] + "] /proc/*/environ; echo searched",
        )
        spec["steps"].insert(0, {"op": "run", "argv": ["env"]})
        r = requests.post(s.api + "/run", json=spec)
        assert r.status_code == 200, r.text
        env, fds, inherited, environ = outputs(r.json())
        assert env.splitlines() == ["PATH=/bin:/usr/bin:/sbin:/usr/sbin", "HOME=/root", "LC_ALL=C"]
        assert fds.split() == ["0", "1", "2"], fds
        assert "No such file" in inherited, inherited
        # stdout (nothing read, nothing found) then stderr
        assert environ.startswith("\nsearched\n") and "Permission denied" in environ, environ
        assert SECRET_VALUE not in r.text and CANARY not in r.text
        assert wait_clean(state, s.pid, descendants) == []
    finally:
        assert s.stop() == 0


def test_kill_everything_reaches_only_the_own_run(start_server):
    s = start_server("--workers", "2", "--rate-limit", "0")
    state = HostState(s.pid, descendants)
    workers = set(s.workers())
    with ThreadPoolExecutor(1) as pool:
        bystander = pool.submit(requests.post, s.api + "/run", json=shell("sleep 2; echo survived"))
        time.sleep(0.3)  # let the bystander's program start; its survival is what is checked
        r = requests.post(s.api + "/run", json=shell("kill -9 -1; kill -9 0; echo alive", "echo next"))
        assert r.status_code == 200, r.text
        assert r.json()["steps"][0]["output"]["signal"] == "SIGKILL"
        assert outputs(r.json())[1] == "next\n"
        theirs = bystander.result(timeout=20)
    assert theirs.status_code == 200 and outputs(theirs.json()) == ["survived\n"], theirs.text
    assert s.proc.poll() is None, "the server died"
    assert set(s.workers()) == workers, "a worker died"
    assert s.wait_healthy()["status"] == "ok"
    assert wait_clean(state, s.pid, descendants) == []


def test_workers_and_sandboxes_die_with_a_killed_server(start_server):
    s = start_server("--workers", "2", "--rate-limit", "0")
    state = HostState(s.pid, descendants)
    workers = s.workers()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(requests.post, s.api + "/run", json=shell("sleep 30"))
        deadline = time.monotonic() + 10
        while not any(descendants(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.02)
        below = descendants(s.pid)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") for p in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [p for p in below if os.path.exists(f"/proc/{p}") and not _zombie(p)]
    assert alive == [], f"outlived the server: {alive}"
    assert state.leaks(s.pid, lambda _pid: []) == []


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_shutdown_answers_every_queued_request_503(start_server):
    s = start_server("--workers", "1", "--rate-limit", "0", "--queue", "16", "--shutdown-grace", "200")
    with ThreadPoolExecutor(8) as pool:
        runs = [pool.submit(requests.post, s.api + "/run", json=shell("sleep 5")) for _ in range(8)]
        deadline = time.monotonic() + 10
        while s.metrics().get("rootlab_runs_queued", 0) < 7 and time.monotonic() < deadline:
            time.sleep(0.02)
        s.proc.send_signal(signal.SIGTERM)
        answers = [r.result(timeout=30) for r in runs]
    codes = sorted((a.status_code, a.json()["error"]["code"]) for a in answers)
    assert codes == [(503, "shutting_down")] * 8, codes
    assert s.proc.wait(timeout=20) == 0
