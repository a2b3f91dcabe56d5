//! Background programs (`cmd &` and `wait`): an actor starts a program the way a foreground
//! `run` does (see [`super::run::spawn`]: its programs' pid namespace, its own session, stdio
//! only, the system call filter) and goes on serving requests at once.
//!
//! Their output is drained by the actor itself, never by a helper process: a container with a
//! user namespace forks every child into its programs' pid namespace, where a helper holding
//! engine descriptors would be visible to (and killable by) the programs. Draining is
//! non-blocking and happens whenever the actor is idle (its request loop polls the lab's
//! socket together with every background pipe and pidfd, see [`Background::idle_until`]),
//! while it runs a foreground program (the same poll, see `run::collect`) and while it performs
//! a `wait`; a program past the output limit is killed, as in the foreground. So a program
//! that floods its pipe stalls only while its actor performs a short op (a mount, a walk), and
//! never stalls the actor.

use std::fs::File;
use std::os::fd::{OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use rootlab_shared::result::{CommandOutput, Running, StepDetails, StepError};

use super::context::OpContext;
use super::outcome::{Calls, Extra, OpResult};
use super::run::{self, Spawned};
use super::sys::{self, Errno, Exit, Pid};

/// One background program of this actor.
struct Program {
    argv: Vec<String>,
    child: Pid,
    /// As its fellow programs see it.
    pid: Option<i32>,
    pidfd: OwnedFd,
    pipes: [Option<File>; 2],
    bufs: [Vec<u8>; 2],
    truncated: bool,
    exit: Option<Exit>,
}

/// What one poll watches: a pipe of a program, or its pidfd.
#[derive(Clone, Copy)]
pub enum Watch {
    Pipe(usize, usize),
    Exit(usize),
}

/// An actor's background programs, in start order, until a `wait` reports them.
pub struct Background {
    programs: Vec<Program>,
    /// The sandbox's proc (to read a program's pid as its namespace sees it).
    engine_proc: Option<OwnedFd>,
    /// The output limit of each program.
    cap: usize,
}

/// Start `path` in the background and record it in the actor's context.
pub fn start(
    path: &Path,
    argv: &[String],
    ctx: &mut OpContext,
    calls: &mut Calls,
) -> Result<Extra, Errno> {
    // Before the execve the caller recorded: the fork a shell makes for `&`.
    let at = calls.0.len().saturating_sub(1);
    let fork = "fork(); setsid() in the child (the shell does not wait for it: `&`)";
    calls.0.insert(at, fork.into());
    let Spawned {
        child,
        stdout,
        stderr,
    } = run::spawn(path, argv, ctx)?;
    let pid = ctx.background.add(argv, child, stdout, stderr)?;
    Ok(Extra {
        details: Some(StepDetails::Started { pid }),
        ..Extra::default()
    })
}

/// The `wait` step: wait (at most `timeout_ms`) for every background program of the actor.
pub fn wait_step(timeout_ms: Option<u64>, ctx: &mut OpContext, calls: &mut Calls) -> OpResult {
    calls.0.push(
        "poll([stdout, stderr, pidfd] of each background program); read(); waitpid(pid) as each ends"
            .into(),
    );
    // A timeout too far away to count is no timeout (the wall time ends the run first).
    let deadline = timeout_ms.and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms)));
    ctx.background.wait_until(deadline);
    let (ended, still_running) = ctx.background.take_ended();
    let failure = match still_running.len() {
        0 => ended.iter().find_map(run::program_failure),
        n => Some(timed_out(n, timeout_ms.unwrap_or(0))),
    };
    Ok(Extra {
        output: None,
        details: Some(StepDetails::Waited {
            ended,
            still_running,
        }),
        failure,
    })
}

/// The `exit` step: background programs still running are killed first (reported as a `wait`
/// would), then the actor exits.
pub fn exit_step(ctx: &mut OpContext, calls: &mut Calls) -> OpResult {
    let mut extra = Extra::default();
    if !ctx.background.is_empty() {
        calls
            .0
            .push("kill(-pgid, SIGKILL) for each background program still running".into());
        ctx.background.kill_all();
        let (ended, still_running) = ctx.background.take_ended();
        extra.details = Some(StepDetails::Waited {
            ended,
            still_running,
        });
    }
    calls.0.push("exit_group(0)".into());
    Ok(extra)
}

fn timed_out(n: usize, ms: u64) -> StepError {
    StepError {
        errno: None,
        code: None,
        message: format!("{n} background program(s) still running after {ms} ms"),
        explanation: "they go on running: a later `wait` reports them, and the run's end kills \
                      them with the sandbox"
            .into(),
    }
}

impl Background {
    pub fn new(engine_proc: Option<OwnedFd>, cap: usize) -> Self {
        Background {
            programs: Vec::new(),
            engine_proc,
            cap,
        }
    }

    fn add(
        &mut self,
        argv: &[String],
        child: Pid,
        stdout: File,
        stderr: File,
    ) -> Result<Option<i32>, Errno> {
        let pidfd = match sys::pidfd_open(child) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = sys::kill(child);
                let _ = sys::wait(child);
                return Err(e);
            }
        };
        let pid = self.inner_pid(child);
        self.programs.push(Program {
            argv: argv.to_vec(),
            child,
            pid,
            pidfd,
            pipes: [Some(stdout), Some(stderr)],
            bufs: [Vec::new(), Vec::new()],
            truncated: false,
            exit: None,
        });
        Ok(pid)
    }

    /// The last `NSpid` of `/proc/<child>/status`: the pid in the innermost namespace.
    fn inner_pid(&self, child: Pid) -> Option<i32> {
        let proc = self.engine_proc.as_ref()?;
        let status = sys::read_below(proc, &format!("{child}/status"), 4096).ok()?;
        let text = String::from_utf8_lossy(&status);
        let line = text.lines().find(|l| l.starts_with("NSpid:"))?;
        line.split_whitespace().last()?.parse().ok()
    }

    /// Background programs still running (after draining what is ready).
    pub fn running(&mut self) -> Vec<Running> {
        self.pump(Some(Duration::ZERO), None);
        self.programs
            .iter()
            .filter(|p| p.exit.is_none())
            .map(|p| Running {
                argv: p.argv.clone(),
                pid: p.pid,
            })
            .collect()
    }

    /// Kill every background program still running (its whole process group), e.g. when its
    /// actor exits, and wait for them.
    pub fn kill_all(&mut self) {
        for p in self.programs.iter().filter(|p| p.exit.is_none()) {
            let _ = sys::kill(Pid::from_raw(-p.child.as_raw()));
            let _ = sys::kill(p.child);
        }
        self.wait_until(None);
    }

    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }

    /// Serve the programs until `socket` is readable (a request came) or nothing is left to
    /// watch.
    pub fn idle_until(&mut self, socket: RawFd) {
        while self.pump(None, Some(socket)) == Some(false) {}
    }

    /// Drain until every program has ended or `deadline` passes.
    fn wait_until(&mut self, deadline: Option<Instant>) {
        while self.programs.iter().any(|p| p.exit.is_none()) {
            let left = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return,
                },
            };
            if self.pump(left, None).is_none() {
                return;
            }
        }
    }

    /// Programs that ended (removed, in start order) and those still running (kept).
    fn take_ended(&mut self) -> (Vec<CommandOutput>, Vec<Running>) {
        let (ended, running): (Vec<_>, Vec<_>) =
            self.programs.drain(..).partition(|p| p.exit.is_some());
        self.programs = running;
        let still = self
            .programs
            .iter()
            .map(|p| Running {
                argv: p.argv.clone(),
                pid: p.pid,
            })
            .collect();
        (ended.into_iter().map(Program::output).collect(), still)
    }

    /// One poll over every open pipe and running program (and `socket`, if given), then
    /// handle what is ready. `None` when nothing could be watched; else whether `socket` is
    /// readable.
    fn pump(&mut self, timeout: Option<Duration>, socket: Option<RawFd>) -> Option<bool> {
        let (watched, mut fds) = self.watch_list();
        if watched.is_empty() {
            return None;
        }
        fds.extend(socket);
        let ms = timeout.map(|t| t.as_millis().max(u128::from(!t.is_zero())) as u64);
        let ready = sys::poll_readable(&fds, ms).ok()?;
        self.serve_ready(&watched, &ready);
        Some(socket.is_some() && ready.last().copied().unwrap_or(false))
    }

    /// Handle what a poll over [`Background::watch_list`] found ready.
    pub fn serve_ready(&mut self, watched: &[Watch], ready: &[bool]) {
        for (w, r) in watched.iter().zip(ready) {
            if *r {
                self.handle(*w);
            }
        }
    }

    /// What to poll: every open pipe and every running program's pidfd.
    pub fn watch_list(&self) -> (Vec<Watch>, Vec<RawFd>) {
        let mut watched = Vec::new();
        let mut fds = Vec::new();
        for (i, p) in self.programs.iter().enumerate() {
            for (j, pipe) in p.pipes.iter().enumerate() {
                if let Some(f) = pipe {
                    watched.push(Watch::Pipe(i, j));
                    fds.push(sys::raw(f));
                }
            }
            if p.exit.is_none() {
                watched.push(Watch::Exit(i));
                fds.push(sys::raw(&p.pidfd));
            }
        }
        (watched, fds)
    }

    fn handle(&mut self, w: Watch) {
        match w {
            Watch::Pipe(i, j) => self.programs[i].read(j, self.cap),
            Watch::Exit(i) => self.programs[i].reap(self.cap),
        }
    }
}

impl Program {
    /// Read what one pipe has; past `cap` bytes in all, kill the program.
    fn read(&mut self, j: usize, cap: usize) {
        let Some(file) = self.pipes[j].as_mut() else {
            return;
        };
        if !run::read_some(file, &mut self.bufs[j]) {
            self.pipes[j] = None;
        }
        if self.bufs[0].len() + self.bufs[1].len() > cap {
            self.truncated = true;
            let _ = sys::kill(self.child);
            let keep = cap.min(self.bufs[0].len());
            self.bufs[0].truncate(keep);
            self.bufs[1].truncate(cap - keep);
            self.pipes = [None, None];
        }
    }

    /// It ended: reap it and keep only what its pipes already hold (a child of its own may
    /// keep them open).
    fn reap(&mut self, cap: usize) {
        self.exit = sys::wait(self.child).ok().or(Some(Exit::Signal(9)));
        for j in 0..2 {
            while let Some(f) = self.pipes[j].as_ref() {
                let ready = sys::poll_readable(&[sys::raw(f)], Some(0)).unwrap_or_default();
                if !ready.first().copied().unwrap_or(false) {
                    self.pipes[j] = None;
                    break;
                }
                self.read(j, cap);
            }
        }
    }

    fn output(self) -> CommandOutput {
        let exit = self.exit.unwrap_or(Exit::Signal(9));
        run::output_of(&self.argv, self.bufs, exit, self.truncated)
    }
}
