//! Running a program in an actor's root: fork + exec with stdout/stderr captured up to the
//! output limit, and a learner-friendly reason when exec fails (e.g. a missing ELF loader).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rootlab_shared::result::{CommandOutput, StepError};

use super::background::Background;
use super::context::OpContext;
use super::explain::explain;
use super::outcome::{sys_error, Calls, Extra, OpResult};
use super::seccomp::SyscallFilter;
use super::sys::{self, Errno, Exit};

/// The whole environment of every program: nothing of the engine's or the server's.
pub const ENV: [&str; 3] = [
    "PATH=/bin:/usr/bin:/sbin:/usr/sbin",
    "HOME=/root",
    "LC_ALL=C",
];

/// The `run` step; with `background`, the program is started and left running.
pub fn run_step(
    argv: &[String],
    background: bool,
    ctx: &mut OpContext,
    calls: &mut Calls,
) -> OpResult {
    let path = resolve(&argv[0]).ok_or_else(|| not_found(&argv[0]))?;
    calls.0.push(format!(
        "execve(\"{}\", [{}], [PATH=..., HOME=/root, LC_ALL=C])",
        path.display(),
        argv.iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if background {
        return super::background::start(&path, argv, ctx, calls).map_err(|e| exec_error(&path, e));
    }
    let output = capture_beside(&path, argv, ctx).map_err(|e| exec_error(&path, e))?;
    let failure = program_failure(&output);
    Ok(Extra {
        output: Some(output),
        details: None,
        failure,
    })
}

/// Look a command up the way a shell would with our PATH; absolute or relative paths as given.
pub fn resolve(cmd: &str) -> Option<PathBuf> {
    if cmd.contains('/') {
        return Some(PathBuf::from(cmd));
    }
    ["/bin", "/usr/bin", "/sbin", "/usr/sbin"]
        .iter()
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.symlink_metadata().is_ok())
}

fn not_found(cmd: &str) -> StepError {
    StepError {
        errno: Some("ENOENT".into()),
        code: Some(Errno::ENOENT as i32),
        message: format!("{cmd}: command not found"),
        explanation: "no such program in /bin, /usr/bin, /sbin or /usr/sbin of this actor's root"
            .into(),
    }
}

/// A program that ran but did not succeed is shown as an error with its status.
pub fn program_failure(out: &CommandOutput) -> Option<StepError> {
    let message = match (out.exit_code, &out.signal) {
        (Some(0), _) => return None,
        (Some(code), _) => format!("{} exited with status {code}", out.argv[0]),
        (None, Some(sig)) => format!("{} was killed by {sig}", out.argv[0]),
        (None, None) => return None,
    };
    let explanation = if out.truncated {
        "its output exceeded the output limit, so it was stopped".to_string()
    } else if out.signal.as_deref() == Some("SIGKILL") {
        "SIGKILL cannot be caught: sent by a program (e.g. `kill -9`), or by the kernel when the \
         sandbox hit its memory limit"
            .to_string()
    } else {
        "the program reported a failure; see its stderr".to_string()
    };
    Some(StepError {
        errno: None,
        code: out.exit_code,
        message,
        explanation,
    })
}

/// Why an exec failed, naming a missing ELF interpreter when that is the cause.
fn exec_error(path: &Path, errno: Errno) -> StepError {
    let call = format!("execve(\"{}\")", path.display());
    let mut err = sys_error("run", &call, errno);
    if errno == Errno::ENOENT && path.exists() {
        if let Some(interp) = elf_interpreter(path) {
            if !Path::new(&interp).exists() {
                err.explanation = format!(
                    "{} exists, but its ELF interpreter (loader) {interp} does not in this root: \
                     the kernel reports the missing loader as \"No such file or directory\"",
                    path.display()
                );
            }
        }
    } else if errno == Errno::ENOENT {
        err.explanation = explain("chroot", errno);
    }
    err
}

/// PT_INTERP of a 64-bit little-endian ELF file, if any.
pub fn elf_interpreter(path: &Path) -> Option<String> {
    let mut head = vec![0u8; 4096];
    let n = File::open(path).ok()?.read(&mut head).ok()?;
    let head = &head[..n];
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(head.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(head.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(head.get(o..o + 8)?.try_into().ok()?));
    let phoff = u64_at(0x20)? as usize;
    let phentsize = u16_at(0x36)? as usize;
    let phnum = u16_at(0x38)? as usize;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(ph)? == 3 {
            let off = u64_at(ph + 8)? as usize;
            let len = u64_at(ph + 32)? as usize;
            let bytes = head.get(off..off + len)?;
            let s = String::from_utf8_lossy(bytes);
            return Some(s.trim_end_matches('\0').to_string());
        }
    }
    None
}

/// A program just started: its pid (in the actor's pid namespace) and its output pipes.
pub struct Spawned {
    pub child: sys::Pid,
    pub stdout: File,
    pub stderr: File,
}

/// Fork, exec `path` with `argv`, and collect its output (stopping it past the output limit).
/// The program is born in the actor's programs' pid namespace.
pub fn capture(path: &Path, argv: &[String], ctx: &OpContext) -> Result<CommandOutput, Errno> {
    let Spawned {
        child,
        stdout,
        stderr,
    } = spawn(path, argv, ctx)?;
    let (stdout, stderr, truncated) = collect(
        child,
        stdout,
        stderr,
        ctx.limits.output_bytes as usize,
        None,
    );
    let exit = sys::wait(child)?;
    Ok(output_of(argv, [stdout, stderr], exit, truncated))
}

/// [`capture`], draining the actor's background programs meanwhile.
fn capture_beside(
    path: &Path,
    argv: &[String],
    ctx: &mut OpContext,
) -> Result<CommandOutput, Errno> {
    let Spawned {
        child,
        stdout,
        stderr,
    } = spawn(path, argv, ctx)?;
    let cap = ctx.limits.output_bytes as usize;
    let bg = Some(&mut ctx.background);
    let (stdout, stderr, truncated) = collect(child, stdout, stderr, cap, bg);
    let exit = sys::wait(child)?;
    Ok(output_of(argv, [stdout, stderr], exit, truncated))
}

/// Fork and exec `path` with `argv` (stdin empty, stdout and stderr on pipes); returns once
/// the exec succeeded, or its errno (the child reaped).
pub fn spawn(path: &Path, argv: &[String], ctx: &OpContext) -> Result<Spawned, Errno> {
    let (out_r, out_w) = sys::pipe()?;
    let (err_r, err_w) = sys::pipe()?;
    let (status_r, status_w) = sys::pipe()?;
    let (stdin_r, stdin_w) = sys::pipe()?;
    drop(stdin_w);
    let env: Vec<String> = ENV.iter().map(|s| s.to_string()).collect();
    let stdio = [sys::raw(&stdin_r), sys::raw(&out_w), sys::raw(&err_w)];
    let status = sys::raw(&status_w);
    let filter = SyscallFilter::global().map_err(|_| Errno::ENOSYS)?;
    let child = ctx
        .programs
        .fork(|| become_program(stdio, status, filter, path, argv, &env))?;
    drop((out_w, err_w, status_w, stdin_r));
    if let Some(errno) = read_exec_status(status_r) {
        let _ = sys::wait(child);
        return Err(errno);
    }
    Ok(Spawned {
        child,
        stdout: out_r,
        stderr: err_r,
    })
}

/// What a program printed and how it ended, as the result shows it.
pub fn output_of(argv: &[String], out: [Vec<u8>; 2], exit: Exit, truncated: bool) -> CommandOutput {
    let [stdout, stderr] = out;
    let (exit_code, signal) = match exit {
        Exit::Code(c) => (Some(c), None),
        Exit::Signal(s) => (None, Some(Exit::signal_name(s))),
    };
    CommandOutput {
        argv: argv.to_vec(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit_code,
        signal,
        truncated,
    }
}

/// The forked child's last steps as engine code: its own session (so `kill(0)` reaches its
/// own group only), stdin/stdout/stderr and nothing else open, no blocked signals, the system
/// call filter on, then exec.
/// A failure is reported as an errno on the exec-status pipe (kept as fd 3, closed on exec).
fn become_program(
    stdio: [std::os::fd::RawFd; 3],
    status: std::os::fd::RawFd,
    filter: &SyscallFilter,
    path: &Path,
    argv: &[String],
    env: &[String],
) -> i32 {
    const STATUS_FD: std::os::fd::RawFd = 3;
    let prepared = sys::setsid()
        .and_then(|_| (0..3).try_for_each(|i| sys::dup_onto(stdio[i], i as i32)))
        .and_then(|_| match status {
            STATUS_FD => Ok(()),
            fd => sys::dup_cloexec_onto(fd, STATUS_FD),
        })
        .and_then(|_| sys::close_from(STATUS_FD + 1))
        .and_then(|_| sys::unblock_all_signals());
    sys::default_sigpipe();
    let prepared = prepared.and_then(|_| filter.install());
    let errno = match prepared {
        Ok(()) => sys::execve(path, argv, env),
        Err(e) => e,
    };
    sys::write_raw(STATUS_FD, &(errno as i32).to_le_bytes());
    127
}

/// The exec-status pipe closes on a successful exec; a failed one sends the errno first.
fn read_exec_status(mut status: File) -> Option<Errno> {
    let mut buf = [0u8; 4];
    match status.read(&mut buf) {
        Ok(4) => Some(Errno::from_raw(i32::from_le_bytes(buf))),
        _ => None,
    }
}

/// Read both pipes until the program ends (a background child holding them does not keep us
/// waiting) or its output passes `cap` (then it is killed).
/// With `beside`, the actor's background programs are drained in the same poll, so that a
/// foreground program waiting for one of them never waits on a full pipe.
fn collect(
    child: sys::Pid,
    out: File,
    err: File,
    cap: usize,
    mut beside: Option<&mut Background>,
) -> (Vec<u8>, Vec<u8>, bool) {
    let mut files = [out, err];
    let mut bufs = [Vec::new(), Vec::new()];
    let mut open = [true, true];
    let pidfd = sys::pidfd_open(child).ok();
    let mut exited = pidfd.is_none();
    let mut truncated = false;
    loop {
        let which: Vec<usize> = (0..2).filter(|i| open[*i]).collect();
        if which.is_empty() {
            break;
        }
        let mut fds: Vec<_> = which.iter().map(|i| sys::raw(&files[*i])).collect();
        if let (false, Some(p)) = (exited, &pidfd) {
            fds.push(sys::raw(p));
        }
        let base = fds.len();
        let watched = beside.as_ref().map(|b| b.watch_list()).unwrap_or_default();
        fds.extend(&watched.1);
        // After the program exited, only drain what is already buffered.
        let Ok(ready) = sys::poll_readable(&fds, exited.then_some(0)) else {
            break;
        };
        if let Some(bg) = beside.as_deref_mut() {
            bg.serve_ready(&watched.0, &ready[base..]);
        }
        let mut any = false;
        for (k, i) in which.iter().enumerate() {
            if ready[k] {
                any = true;
                open[*i] = read_some(&mut files[*i], &mut bufs[*i]);
            }
        }
        if bufs[0].len() + bufs[1].len() > cap {
            truncated = true;
            let _ = sys::kill(child);
            break;
        }
        if exited && !any {
            break;
        }
        exited |= ready.get(which.len()).copied().unwrap_or(false);
    }
    let [mut stdout, mut stderr] = bufs;
    if truncated {
        stdout.truncate(cap);
        stderr.truncate(cap - stdout.len());
    }
    (stdout, stderr, truncated)
}

pub fn read_some(file: &mut File, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16384];
    match file.read(&mut chunk) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_elf_interpreter_of_a_dynamic_program() {
        let interp = elf_interpreter(Path::new("/bin/ls")).expect("/bin/ls is dynamic");
        assert!(
            interp.starts_with('/') && interp.contains("ld-"),
            "{interp}"
        );
        assert_eq!(elf_interpreter(Path::new("/etc/passwd")), None);
    }

    #[test]
    fn commands_are_found_on_the_fixed_path() {
        assert_eq!(resolve("/x/y"), Some(PathBuf::from("/x/y")));
        assert!(resolve("sh").is_some());
        assert_eq!(resolve("no-such-program-here"), None);
    }
}
