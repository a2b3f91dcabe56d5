//! The jail process: leaves the worker's session, joins the cgroups, sets the rlimits, drops
//! privileges, creates the namespaces, becomes non-dumpable, forks the lab init into them and
//! kills it when the wall time is up.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::sys::{self, CloneFlags, Exit, Forked, Rlimit};
use super::{channel, jail_exit, lab, LabMessage, Plan};

/// Runs in the forked child of the worker; never returns.
pub fn main(plan: &Plan, mut out: File) -> ! {
    let started = Instant::now();
    let parent = sys::getppid();
    if let Err(message) = enter(plan, parent) {
        let _ = channel::send(&mut out, &LabMessage::Fatal { message });
        sys::exit_now(jail_exit::SETUP_FAILED);
    }
    let code = match spawn_lab(plan, out) {
        Ok(lab) => supervise(lab, started, plan.limits.wall_ms),
        Err(_) => jail_exit::SETUP_FAILED,
    };
    sys::exit_now(code)
}

/// Everything before the fork of the lab init: limits, credentials, namespaces.
fn enter(plan: &Plan, parent: sys::Pid) -> Result<(), String> {
    // A session of its own: no signal to "my process group" from the sandbox reaches the
    // worker, the server or another sandbox.
    sys::setsid().map_err(|e| format!("setsid: {e}"))?;
    quiet_stdio().map_err(|e| format!("redirecting stdio: {e}"))?;
    for dir in &plan.cgroups {
        // "0" in `tasks` moves the calling thread only, which lets the kernel skip the global
        // threadgroup lock (an RCU sync costing several ms); this process is single-threaded.
        let tasks = dir.join("tasks");
        std::fs::write(&tasks, "0").map_err(|e| format!("joining {}: {e}", tasks.display()))?;
    }
    apply_rlimits(plan).map_err(|e| format!("setrlimit: {e}"))?;
    // Joining needs privilege over the namespace's owner (the initial user namespace): do it
    // before dropping to the sandbox uid.
    let joined_net = plan
        .netns
        .as_ref()
        .is_some_and(|ns| sys::setns(ns.as_ref(), CloneFlags::CLONE_NEWNET).is_ok());
    if let Some((uid, gid)) = plan.drop_to {
        sys::become_user(uid, gid).map_err(|e| format!("dropping to uid {uid}: {e}"))?;
    }
    // A credential change resets both; set them after it (dumpable only until the id maps,
    // which this process writes through its own /proc entry, are written).
    sys::set_dumpable().map_err(|e| format!("prctl(PR_SET_DUMPABLE): {e}"))?;
    sys::die_with_parent().map_err(|e| format!("prctl(PR_SET_PDEATHSIG): {e}"))?;
    if sys::getppid() != parent {
        return Err("the worker died during set-up".into());
    }
    if !plan.exposed_layers.is_empty() {
        // One level up from the sandbox's namespaces, to lock the image layers read-only.
        sys::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare(CLONE_NEWUSER|CLONE_NEWNS) to stage layers: {e}"))?;
        write_id_maps(plan.map_uid, plan.map_gid).map_err(|e| format!("writing id maps: {e}"))?;
        super::image_root::stage_exposed(&plan.exposed_layers)?;
    }
    let (map_uid, map_gid) = if plan.exposed_layers.is_empty() {
        (plan.map_uid, plan.map_gid)
    } else {
        // Root of the staging namespace is already the sandbox's uid.
        (0, 0)
    };
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if !joined_net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    sys::unshare(flags)
        .map_err(|e| format!("unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID|...): {e}"))?;
    write_id_maps(map_uid, map_gid).map_err(|e| format!("writing id maps: {e}"))?;
    // From here on no process of the engine (this one, the lab init, the actors, all forks of
    // it that never exec) can be read, written or traced by anything in the sandbox: that
    // takes CAP_SYS_PTRACE in the initial user namespace, which their memory belongs to.
    sys::set_undumpable().map_err(|e| format!("prctl(PR_SET_DUMPABLE, 0): {e}"))?;
    // Set inside the new user namespace, RLIMIT_NPROC counts only this sandbox's processes;
    // set before it, it would count every process of the uid on the machine.
    if let Some(n) = plan.rlimit_nproc {
        sys::set_rlimit(Rlimit::Processes, n)
            .map_err(|e| format!("setrlimit(RLIMIT_NPROC): {e}"))?;
    }
    Ok(())
}

/// Nothing in the sandbox may write to the worker's protocol stream, read its requests or
/// write into the server's log: stdin, stdout and stderr all become /dev/null.
fn quiet_stdio() -> std::io::Result<()> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        sys::dup_onto(sys::raw(&null), fd)?;
    }
    Ok(())
}

fn apply_rlimits(plan: &Plan) -> Result<(), sys::Errno> {
    sys::set_rlimit(Rlimit::CoreSize, 0)?;
    sys::set_rlimit(Rlimit::FileSize, plan.limits.disk_bytes.max(1))?;
    if let Some(bytes) = plan.rlimit_as {
        sys::set_rlimit(Rlimit::AddressSpace, bytes)?;
    }
    Ok(())
}

/// Map root inside to exactly one uid/gid outside; setgroups must be denied first.
fn write_id_maps(uid: u32, gid: u32) -> std::io::Result<()> {
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))
}

/// Fork the lab init (pid 1 of the new pid namespace). It waits for a go byte so that its
/// parent-death signal is armed before the jail can possibly die.
fn spawn_lab(plan: &Plan, out: File) -> Result<sys::Pid, sys::Errno> {
    let (mut go_read, mut go_write) = sys::pipe()?;
    match sys::fork()? {
        Forked::Child => {
            drop(go_write);
            let armed = sys::die_with_parent().is_ok();
            let mut byte = [0u8; 1];
            if !armed || go_read.read(&mut byte).map_or(true, |n| n == 0) {
                sys::exit_now(1);
            }
            drop(go_read);
            sys::child(|| lab::main(plan, out))
        }
        Forked::Parent(pid) => {
            drop(out);
            drop(go_read);
            go_write.write_all(b"g").map_err(|_| sys::Errno::EPIPE)?;
            Ok(pid)
        }
    }
}

/// Wait for the lab init, killing it (and with it its whole pid namespace) at the deadline.
fn supervise(lab: sys::Pid, started: Instant, wall_ms: u64) -> i32 {
    let deadline = started + Duration::from_millis(wall_ms);
    let Ok(pidfd) = sys::pidfd_open(lab) else {
        sys::kill_raw(lab.as_raw());
        return jail_exit::SETUP_FAILED;
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let ended = sys::poll_readable(&[sys::raw(&pidfd)], Some(left.as_millis() as u64))
        .map(|r| r[0])
        .unwrap_or(false);
    if !ended {
        sys::kill_raw(lab.as_raw());
    }
    match sys::wait(lab) {
        _ if !ended => jail_exit::DEADLINE,
        Ok(Exit::Code(0)) => jail_exit::OK,
        Ok(Exit::Code(_)) => jail_exit::LAB_FAILED,
        Ok(Exit::Signal(_)) | Err(_) => jail_exit::LAB_KILLED,
    }
}
