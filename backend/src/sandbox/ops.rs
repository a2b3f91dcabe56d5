//! The operations an actor performs in its own root and mount namespace, each recorded as the
//! equivalent shell command and the exact system calls made.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rootlab_shared::result::{CommandOutput, StepDetails, StepError, StepOutcome};
use rootlab_shared::spec::{MountFlag, Propagation, Step};
use rootlab_shared::Limits;
use serde::{Deserialize, Serialize};

use super::explain::explain;
use super::sys::{self, Errno, MntFlags, MsFlags};
use super::{escape, rootfs, run};

/// What an actor did for one step (the lab init adds index, actor and timing).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Performed {
    pub command: String,
    pub syscalls: Vec<String>,
    pub outcome: StepOutcome,
    pub output: Option<CommandOutput>,
    pub details: Option<StepDetails>,
}

impl Performed {
    pub fn ok(command: String, syscalls: Vec<String>) -> Self {
        Performed {
            command,
            syscalls,
            outcome: StepOutcome::Ok,
            output: None,
            details: None,
        }
    }

    pub fn failed(command: String, syscalls: Vec<String>, error: StepError) -> Self {
        Performed {
            outcome: StepOutcome::Error(error),
            ..Performed::ok(command, syscalls)
        }
    }

    /// Not run (e.g. its actor is gone).
    pub fn skipped(reason: String) -> Self {
        Performed {
            outcome: StepOutcome::Skipped { reason },
            ..Performed::ok(String::new(), vec![])
        }
    }

    /// The actor process vanished while performing `op`.
    pub fn died(op: &str, how: String) -> Self {
        let error = StepError {
            errno: None,
            code: None,
            message: format!("the actor process {how} during {op}"),
            explanation: "a limit of the sandbox (memory or pids) most likely killed it".into(),
        };
        Performed::failed(String::new(), vec![], error)
    }
}

/// What an actor remembers between steps.
#[derive(Default)]
pub struct ActorState {
    /// Roots this actor changed into, in order (for the escape trace).
    pub roots: Vec<String>,
}

/// Records syscalls as they are made, for the step result.
#[derive(Default)]
pub struct Calls(pub Vec<String>);

/// The product of a successful op beyond "it worked".
#[derive(Default)]
pub struct Extra {
    pub output: Option<CommandOutput>,
    pub details: Option<StepDetails>,
    /// The op ran but its result is an error to show (e.g. a program that failed).
    pub failure: Option<StepError>,
}

pub type OpResult = Result<Extra, StepError>;

/// A StepError for a refused system call.
pub fn sys_error(op: &str, call: &str, errno: Errno) -> StepError {
    StepError {
        errno: Some(format!("{errno:?}")),
        code: Some(errno as i32),
        message: format!("{call}: {}", errno.desc()),
        explanation: explain(op, errno),
    }
}

/// A StepError for a failed file operation.
pub fn io_error(op: &str, call: &str, err: &io::Error) -> StepError {
    match err.raw_os_error() {
        Some(code) => sys_error(op, call, Errno::from_raw(code)),
        None => StepError {
            errno: None,
            code: None,
            message: format!("{call}: {err}"),
            explanation: "the operation could not be completed".into(),
        },
    }
}

/// Perform one step in this process.
pub fn perform(step: &Step, limits: &Limits, state: &mut ActorState) -> Performed {
    let mut calls = Calls::default();
    let command = command_of(step, limits);
    let result = dispatch(step, limits, state, &mut calls);
    let (outcome, extra) = match result {
        Ok(mut extra) => match extra.failure.take() {
            Some(e) => (StepOutcome::Error(e), extra),
            None => (StepOutcome::Ok, extra),
        },
        Err(e) => (StepOutcome::Error(e), Extra::default()),
    };
    Performed {
        command,
        syscalls: calls.0,
        outcome,
        output: extra.output,
        details: extra.details,
    }
}

fn dispatch(step: &Step, limits: &Limits, state: &mut ActorState, calls: &mut Calls) -> OpResult {
    match step {
        Step::Tmpfs {
            target,
            source,
            size,
            mode,
            flags,
            ..
        } => {
            let data = tmpfs_data(limits, *size, *mode);
            let src = source.as_deref().unwrap_or("none");
            calls.mount(
                "tmpfs",
                Some(src),
                target,
                Some("tmpfs"),
                mount_flags(flags),
                Some(&data),
            )
        }
        Step::Bind {
            source,
            target,
            readonly,
            recursive,
            ..
        } => bind(source, target, *readonly, *recursive, calls),
        Step::Overlay {
            target,
            lowers,
            upper,
            ..
        } => overlay(target, lowers, upper.as_deref(), calls),
        Step::Proc { target, .. } => {
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            calls.mount("proc", Some("proc"), target, Some("proc"), flags, None)
        }
        Step::RemountReadonly { target, .. } => remount_readonly(target, calls),
        Step::Umount { target, detach, .. } => {
            let flags = if *detach {
                MntFlags::MNT_DETACH
            } else {
                MntFlags::empty()
            };
            calls.umount("umount", target, flags)
        }
        Step::MakePropagation {
            target,
            propagation,
            recursive,
            ..
        } => {
            let mut flags = propagation_flag(*propagation);
            if *recursive {
                flags |= MsFlags::MS_REC;
            }
            calls.mount("make_propagation", None, target, None, flags, None)
        }
        Step::BuildRootfs {
            dir,
            programs,
            skip_libraries,
            ..
        } => rootfs::build(dir, programs, *skip_libraries, limits, calls),
        Step::Chroot { dir, .. } => chroot(dir, state, calls),
        Step::PivotRoot { new_root, .. } => pivot_root(new_root, state, calls),
        Step::Write {
            path,
            content,
            mode,
            ..
        } => write(path, content, *mode, calls),
        Step::Delete { path, .. } => delete(path, calls),
        Step::Mkdir { path, mode, .. } => mkdir(path, *mode, calls),
        Step::Run { argv, .. } => run::run_step(argv, limits, calls),
        Step::Escape { .. } => escape::attempt(state, calls),
        Step::Exit { .. } => {
            calls.0.push("exit_group(0)".into());
            Ok(Extra::default())
        }
        Step::Container { .. } | Step::Snapshot { .. } => Ok(Extra::default()),
    }
}

fn tmpfs_data(limits: &Limits, size: Option<u64>, mode: Option<u32>) -> String {
    let size = size.unwrap_or(limits.disk_bytes).min(limits.disk_bytes);
    let mut data = format!("size={size},nr_inodes={}", limits.inodes);
    if let Some(m) = mode {
        data.push_str(&format!(",mode={:o}", m & 0o7777));
    }
    data
}

fn mount_flags(flags: &[MountFlag]) -> MsFlags {
    flags.iter().fold(MsFlags::empty(), |acc, f| {
        acc | match f {
            MountFlag::Readonly => MsFlags::MS_RDONLY,
            MountFlag::Nosuid => MsFlags::MS_NOSUID,
            MountFlag::Nodev => MsFlags::MS_NODEV,
            MountFlag::Noexec => MsFlags::MS_NOEXEC,
            MountFlag::Noatime => MsFlags::MS_NOATIME,
        }
    })
}

pub fn propagation_flag(p: Propagation) -> MsFlags {
    super::lab::propagation_flag(p)
}

fn bind(
    source: &str,
    target: &str,
    readonly: bool,
    recursive: bool,
    calls: &mut Calls,
) -> OpResult {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    calls.mount("bind", Some(source), target, None, flags, None)?;
    if readonly {
        remount_readonly(target, calls)?;
    }
    Ok(Extra::default())
}

fn overlay(target: &str, lowers: &[String], upper: Option<&str>, calls: &mut Calls) -> OpResult {
    let lowerdir: Vec<String> = lowers.iter().map(|l| format!("/layers/{l}")).collect();
    let mut data = format!("lowerdir={}", lowerdir.join(":"));
    if let Some(u) = upper {
        let work = format!("/layers/.work-{u}");
        calls.mkdir("overlay", &work, 0o755)?;
        data.push_str(&format!(",upperdir=/layers/{u},workdir={work}"));
    }
    // Unprivileged overlayfs keeps whiteouts and opaque markers in user.* xattrs.
    data.push_str(",userxattr");
    calls.mount(
        "overlay",
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(&data),
    )
}

fn remount_readonly(target: &str, calls: &mut Calls) -> OpResult {
    // Keep flags a more privileged namespace may have locked (nosuid, nodev, atime...).
    let kept = sys::mount_flags_of(Path::new(target))
        .map_err(|e| sys_error("remount_readonly", &format!("statvfs(\"{target}\")"), e))?;
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | kept;
    calls.mount("remount_readonly", None, target, None, flags, None)
}

fn chroot(dir: &str, state: &mut ActorState, calls: &mut Calls) -> OpResult {
    calls.call("chroot", format!("chroot(\"{dir}\")"), || {
        sys::chroot(Path::new(dir))
    })?;
    calls.call("chroot", "chdir(\"/\")".into(), || {
        sys::chdir(Path::new("/"))
    })?;
    state.roots.push(format!("chroot {dir}"));
    Ok(Extra::default())
}

/// The careful pivot (as runc and youki do it): the new root becomes a mount point by binding it
/// onto itself, the old root is stacked under it with `pivot_root(".", ".")`, made a slave so
/// its detachment cannot propagate anywhere, and detached.
fn pivot_root(new_root: &str, state: &mut ActorState, calls: &mut Calls) -> OpResult {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    calls.mount("pivot_root", Some(new_root), new_root, None, flags, None)?;
    calls.call("pivot_root", format!("chdir(\"{new_root}\")"), || {
        sys::chdir(Path::new(new_root))
    })?;
    calls.call("pivot_root", "pivot_root(\".\", \".\")".into(), || {
        sys::pivot_root(Path::new("."), Path::new("."))
    })?;
    let slave = MsFlags::MS_SLAVE | MsFlags::MS_REC;
    calls.mount("pivot_root", None, ".", None, slave, None)?;
    calls.umount("pivot_root", ".", MntFlags::MNT_DETACH)?;
    calls.call("pivot_root", "chdir(\"/\")".into(), || {
        sys::chdir(Path::new("/"))
    })?;
    state.roots.push(format!("pivot_root {new_root}"));
    Ok(Extra::default())
}

fn write(path: &str, content: &str, mode: u32, calls: &mut Calls) -> OpResult {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    calls.0.push(format!(
        "openat(AT_FDCWD, \"{path}\", O_WRONLY|O_CREAT|O_TRUNC, {mode:o}); write(..., {} bytes)",
        content.len()
    ));
    let res = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode & 0o7777)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .and_then(|_| set_mode(path, mode));
    res.map_err(|e| io_error("write", &format!("write {path}"), &e))?;
    Ok(Extra::default())
}

fn set_mode(path: &str, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
}

fn delete(path: &str, calls: &mut Calls) -> OpResult {
    let meta = std::fs::symlink_metadata(path);
    let res = match meta {
        Ok(m) if m.is_dir() => {
            calls.0.push(format!(
                "unlinkat(..., AT_REMOVEDIR) under \"{path}\", depth first"
            ));
            std::fs::remove_dir_all(path)
        }
        Ok(_) => {
            calls.0.push(format!("unlink(\"{path}\")"));
            std::fs::remove_file(path)
        }
        // rm -f: a missing path is not an error.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            calls.0.push(format!("lstat(\"{path}\") = ENOENT"));
            Ok(())
        }
        Err(e) => Err(e),
    };
    res.map_err(|e| io_error("delete", &format!("rm -rf {path}"), &e))?;
    Ok(Extra::default())
}

fn mkdir(path: &str, mode: u32, calls: &mut Calls) -> OpResult {
    calls.mkdir("mkdir", path, mode)?;
    Ok(Extra::default())
}

impl Calls {
    /// Make a call, recording it; a refusal becomes the step's error.
    pub fn call(
        &mut self,
        op: &str,
        text: String,
        f: impl FnOnce() -> Result<(), Errno>,
    ) -> Result<(), StepError> {
        let res = f();
        let err = res.err();
        self.0.push(match err {
            None => text.clone(),
            Some(e) => format!("{text} = -1 {e:?}"),
        });
        match err {
            None => Ok(()),
            Some(e) => Err(sys_error(op, &text, e)),
        }
    }

    pub fn mount(
        &mut self,
        op: &str,
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> OpResult {
        let q = |s: Option<&str>| s.map_or("NULL".to_string(), |s| format!("\"{s}\""));
        let text = format!(
            "mount({}, \"{target}\", {}, {}, {})",
            q(source),
            q(fstype),
            flag_names(flags),
            q(data)
        );
        self.call(op, text, || {
            sys::mount(source, Path::new(target), fstype, flags, data)
        })?;
        Ok(Extra::default())
    }

    pub fn umount(&mut self, op: &str, target: &str, flags: MntFlags) -> OpResult {
        let f = if flags.contains(MntFlags::MNT_DETACH) {
            "MNT_DETACH"
        } else {
            "0"
        };
        let text = format!("umount2(\"{target}\", {f})");
        self.call(op, text, || sys::umount(Path::new(target), flags))?;
        Ok(Extra::default())
    }

    /// `mkdir -p` with the final directory's mode set.
    pub fn mkdir(&mut self, op: &str, path: &str, mode: u32) -> Result<(), StepError> {
        self.0.push(format!(
            "mkdir(\"{path}\", {:o}) for each missing component",
            mode & 0o7777
        ));
        std::fs::create_dir_all(path)
            .and_then(|_| set_mode(path, mode))
            .map_err(|e| io_error(op, &format!("mkdir -p {path}"), &e))
    }
}

/// `MS_BIND|MS_REC` style names, `0` for none.
pub fn flag_names(flags: MsFlags) -> String {
    const NAMES: [(MsFlags, &str); 14] = [
        (MsFlags::MS_RDONLY, "MS_RDONLY"),
        (MsFlags::MS_NOSUID, "MS_NOSUID"),
        (MsFlags::MS_NODEV, "MS_NODEV"),
        (MsFlags::MS_NOEXEC, "MS_NOEXEC"),
        (MsFlags::MS_REMOUNT, "MS_REMOUNT"),
        (MsFlags::MS_NOATIME, "MS_NOATIME"),
        (MsFlags::MS_BIND, "MS_BIND"),
        (MsFlags::MS_REC, "MS_REC"),
        (MsFlags::MS_PRIVATE, "MS_PRIVATE"),
        (MsFlags::MS_SLAVE, "MS_SLAVE"),
        (MsFlags::MS_SHARED, "MS_SHARED"),
        (MsFlags::MS_UNBINDABLE, "MS_UNBINDABLE"),
        (MsFlags::MS_RELATIME, "MS_RELATIME"),
        (MsFlags::MS_NODIRATIME, "MS_NODIRATIME"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// Quote one word for a POSIX shell when needed.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The shell command a person would type for this step.
pub fn command_of(step: &Step, limits: &Limits) -> String {
    let q = |s: &str| shell_quote(s);
    match step {
        Step::Container { .. } | Step::Snapshot { .. } => String::new(),
        Step::Tmpfs {
            target,
            source,
            size,
            mode,
            flags,
            ..
        } => {
            let mut opts: Vec<String> = flags.iter().map(|f| f.option_name().to_string()).collect();
            opts.push(tmpfs_data(limits, *size, *mode));
            let src = source.as_deref().unwrap_or("none");
            format!("mount -t tmpfs -o {} {} {}", opts.join(","), q(src), q(target))
        }
        Step::Bind {
            source,
            target,
            readonly,
            recursive,
            ..
        } => {
            let kind = if *recursive { "--rbind" } else { "--bind" };
            let ro = if *readonly { " -o ro" } else { "" };
            format!("mount {kind}{ro} {} {}", q(source), q(target))
        }
        Step::Overlay {
            target,
            lowers,
            upper,
            ..
        } => {
            let lowerdir: Vec<String> = lowers.iter().map(|l| format!("/layers/{l}")).collect();
            let mut opts = format!("lowerdir={}", lowerdir.join(":"));
            if let Some(u) = upper {
                opts.push_str(&format!(",upperdir=/layers/{u},workdir=/layers/.work-{u}"));
            }
            format!("mount -t overlay overlay -o {opts},userxattr {}", q(target))
        }
        Step::Proc { target, .. } => format!("mount -t proc proc {}", q(target)),
        Step::RemountReadonly { target, .. } => format!("mount -o remount,bind,ro {}", q(target)),
        Step::Umount { target, detach, .. } => {
            format!("umount {}{}", if *detach { "-l " } else { "" }, q(target))
        }
        Step::MakePropagation {
            target,
            propagation,
            recursive,
            ..
        } => format!(
            "mount --make-{}{} {}",
            if *recursive { "r" } else { "" },
            propagation.as_str(),
            q(target)
        ),
        Step::BuildRootfs {
            dir,
            programs,
            skip_libraries,
            ..
        } => rootfs::command(dir, programs, *skip_libraries),
        Step::Chroot { dir, .. } => format!("chroot {}", q(dir)),
        Step::PivotRoot { new_root, .. } => format!(
            "mount --rbind {r} {r} && cd {r} && pivot_root . . && mount --make-rslave . && umount -l . && cd /",
            r = q(new_root)
        ),
        Step::Write { path, content, .. } => format!("printf '%s' {} > {}", q(content), q(path)),
        Step::Delete { path, .. } => format!("rm -rf {}", q(path)),
        Step::Mkdir { path, mode, .. } => format!("mkdir -p -m {:o} {}", mode & 0o7777, q(path)),
        Step::Run { argv, .. } => argv.iter().map(|a| q(a)).collect::<Vec<_>>().join(" "),
        Step::Escape { .. } => {
            "mkdir .escape && chroot .escape && cd ../../..(x64) && chroot . && ls /".into()
        }
        Step::Exit { .. } => "exit".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("/tmp"), "/tmp");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn flags_are_named_like_strace() {
        assert_eq!(flag_names(MsFlags::empty()), "0");
        assert_eq!(
            flag_names(MsFlags::MS_BIND | MsFlags::MS_REC),
            "MS_BIND|MS_REC"
        );
    }

    #[test]
    fn tmpfs_size_is_capped_by_the_disk_limit() {
        let limits = Limits::default();
        let data = tmpfs_data(&limits, Some(u64::MAX), Some(0o1777));
        assert_eq!(
            data,
            format!(
                "size={},nr_inodes={},mode=1777",
                limits.disk_bytes, limits.inodes
            )
        );
    }

    #[test]
    fn pivot_root_einval_is_explained() {
        let e = sys_error("pivot_root", "pivot_root(\".\", \".\")", Errno::EINVAL);
        assert_eq!(e.errno.as_deref(), Some("EINVAL"));
        assert!(e.explanation.contains("shared"));
    }
}
