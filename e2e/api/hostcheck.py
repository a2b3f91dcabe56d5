"""What the host looks like, to prove an experiment left nothing on it: the host's mount table
and any process living in a foreign user namespace (a sandbox) that is an orphan or still hangs
below the server."""

import os
from pathlib import Path

HOST_USERNS = os.readlink("/proc/self/ns/user")


def mount_table() -> list[str]:
    # Fields 1-2 (mount id, parent id) are stable for the same mount; keep the whole line.
    return Path("/proc/self/mountinfo").read_text().splitlines()


def _stat(pid: int) -> tuple[int, str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        userns = os.readlink(f"/proc/{pid}/ns/user")
    except OSError:
        return None
    ppid = int(raw.rsplit(")", 1)[1].split()[1])
    return ppid, userns


def sandboxed_processes() -> dict[int, int]:
    """pid -> ppid of every process outside the host's user namespace."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info and info[1] != HOST_USERNS:
                found[int(entry.name)] = info[0]
    return found


class HostState:
    def __init__(self, server_pid: int, descendants):
        self.mounts = mount_table()
        self.sandboxed = sandboxed_processes()
        # Idle workers may keep sandboxed helpers of their own: a steady count, not zero.
        self.below_server = len(set(descendants(server_pid)) & set(self.sandboxed))

    def leaks(self, server_pid: int, descendants) -> list[str]:
        """Problems seen now compared with when this state was taken."""
        problems = []
        now = mount_table()
        added = [m for m in now if m not in self.mounts]
        removed = [m for m in self.mounts if m not in now]
        if added or removed:
            problems.append(f"host mount table changed: +{added} -{removed}")
        sandboxed = sandboxed_processes()
        for pid, ppid in sandboxed.items():
            if pid not in self.sandboxed and ppid == 1:
                problems.append(f"orphaned sandbox process {pid} still alive")
        below = set(descendants(server_pid)) & set(sandboxed)
        if len(below) > self.below_server:
            problems.append(f"sandbox processes below the server: {sorted(below)} (idle: {self.below_server})")
        return problems


def wait_clean(state: HostState, server_pid: int, descendants, timeout: float = 10.0) -> list[str]:
    """The leaks still present after `timeout` (killed sandboxes take a moment to be reaped)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        problems = state.leaks(server_pid, descendants)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.1)
