//! The dispatcher: one step performed by an actor in its own root and namespaces, recorded as
//! the equivalent shell command and the exact system calls made. The mount ops live here; the
//! bigger ones have modules of their own (`rootfs`, `run`, `escape`).

use std::io;
use std::path::Path;

use rootlab_shared::result::StepOutcome;
use rootlab_shared::spec::{MountFlag, OverlayOption, Propagation, Step};

use super::command::{command_of, overlay_data, tmpfs_data};
use super::context::OpContext;
use super::outcome::{
    io_error, mount_text, set_mode, sys_error, Calls, Extra, OpResult, Performed,
};
use super::sys::{self, MntFlags, MsFlags};
use super::{background, escape, rootfs, run};

/// Perform one step in this process.
pub fn perform(step: &Step, ctx: &mut OpContext) -> Performed {
    let mut calls = Calls::default();
    let command = command_of(step, &ctx.limits);
    let result = dispatch(step, ctx, &mut calls);
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

fn dispatch(step: &Step, ctx: &mut OpContext, calls: &mut Calls) -> OpResult {
    let limits = &ctx.limits;
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
            propagation,
            ..
        } => {
            bind(source, target, *readonly, *recursive, calls)?;
            match propagation {
                None => Ok(Extra::default()),
                Some(p) => {
                    let rec = if *recursive {
                        MsFlags::MS_REC
                    } else {
                        MsFlags::empty()
                    };
                    let flags = propagation_flag(*p) | rec;
                    calls.mount("make_propagation", None, target, None, flags, None)
                }
            }
        }
        Step::Move { source, target, .. } => {
            calls.mount("move", Some(source), target, None, MsFlags::MS_MOVE, None)
        }
        Step::Overlay {
            target,
            lowers,
            upper,
            options,
            ..
        } => overlay(target, lowers, upper.as_deref(), options, calls),
        Step::Proc { target, .. } => proc(target, ctx, calls),
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
        } => rootfs::build(dir, programs, *skip_libraries, ctx, calls),
        Step::Chroot { dir, .. } => chroot(dir, ctx, calls),
        Step::PivotRoot { new_root, .. } => pivot_root(new_root, ctx, calls),
        Step::Write {
            path,
            content,
            mode,
            ..
        } => write(path, content, *mode, calls),
        Step::Delete { path, .. } => delete(path, calls),
        Step::Mkdir { path, mode, .. } => mkdir(path, *mode, calls),
        Step::Run {
            argv, background, ..
        } => run::run_step(argv, *background, ctx, calls),
        Step::Wait { timeout_ms, .. } => background::wait_step(*timeout_ms, ctx, calls),
        Step::Escape { .. } => escape::attempt(ctx, calls),
        Step::Exit { .. } => background::exit_step(ctx, calls),
        Step::Container { .. } | Step::Snapshot { .. } | Step::Commit { .. } => {
            Ok(Extra::default())
        }
    }
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
    match p {
        Propagation::Shared => MsFlags::MS_SHARED,
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Slave => MsFlags::MS_SLAVE,
        Propagation::Unbindable => MsFlags::MS_UNBINDABLE,
    }
}

/// A proc mount shows the pid namespace of the process that mounts it: mount it from inside
/// the namespace this actor's programs live in, never the engine's.
fn proc(target: &str, ctx: &OpContext, calls: &mut Calls) -> OpResult {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let text = mount_text(Some("proc"), target, Some("proc"), flags, None);
    calls.call("proc", text, || {
        ctx.programs
            .call_inside(|| sys::mount(Some("proc"), Path::new(target), Some("proc"), flags, None))
    })?;
    Ok(Extra::default())
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

fn overlay(
    target: &str,
    lowers: &[String],
    upper: Option<&str>,
    options: &[OverlayOption],
    calls: &mut Calls,
) -> OpResult {
    if let Some(u) = upper {
        calls.mkdir("overlay", &format!("/layers/.work-{u}"), 0o755)?;
    }
    let data = overlay_data(lowers, upper, options);
    let mounted = calls.mount(
        "overlay",
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(&data),
    );
    mounted.map_err(|mut e| {
        if e.errno.as_deref() == Some("EINVAL") {
            if let Some(why) = overlay_refusal(lowers, upper, options) {
                e.explanation = why;
            }
        }
        e
    })
}

/// Why overlayfs refused with EINVAL, for the refusals it logs to the kernel log only (not to
/// the mount's context, where the generic path would find them).
fn overlay_refusal(
    lowers: &[String],
    upper: Option<&str>,
    options: &[OverlayOption],
) -> Option<String> {
    let conflicting = options
        .iter()
        .find(|o| matches!(o, OverlayOption::Metacopy | OverlayOption::RedirectDir));
    if let Some(o) = conflicting {
        let text = o.option_text();
        return Some(format!(
            "the kernel logs \"conflicting options: userxattr,{text}\": an overlay mounted in a user \
             namespace keeps its metadata in user.* xattrs, which {text} may not trust; only the \
             host's root can use it"
        ));
    }
    if let Some(u) = upper {
        // A volatile mount leaves this mark in its work dir; the kernel refuses the upper after.
        if Path::new(&format!("/layers/.work-{u}/work/incompat/volatile")).exists() {
            return Some(format!(
                "the kernel logs \"overlay with incompat feature 'volatile' cannot be mounted\": \
                 an earlier volatile mount of upper {u} left work/incompat/volatile in its work \
                 dir, since its writes may never have reached the disk; remove that dir (or use a \
                 fresh upper) to mount it again"
            ));
        }
    }
    if upper.is_none() && lowers.len() == 1 {
        return Some(
            "a read-only overlay (no upper) needs at least two lowers: the kernel logs \"at least \
             2 lowerdir are needed while upperdir nonexistent\""
                .into(),
        );
    }
    None
}

fn remount_readonly(target: &str, calls: &mut Calls) -> OpResult {
    // Keep flags a more privileged namespace may have locked (nosuid, nodev, atime...).
    let kept = sys::mount_flags_of(Path::new(target))
        .map_err(|e| sys_error("remount_readonly", &format!("statvfs(\"{target}\")"), e))?;
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | kept;
    calls.mount("remount_readonly", None, target, None, flags, None)
}

fn chroot(dir: &str, ctx: &mut OpContext, calls: &mut Calls) -> OpResult {
    calls.call("chroot", format!("chroot(\"{dir}\")"), || {
        sys::chroot(Path::new(dir))
    })?;
    calls.call("chroot", "chdir(\"/\")".into(), || {
        sys::chdir(Path::new("/"))
    })?;
    ctx.roots.push(format!("chroot {dir}"));
    Ok(Extra::default())
}

/// The careful pivot (as runc and youki do it): the new root becomes a mount point by binding it
/// onto itself, the old root is stacked under it with `pivot_root(".", ".")`, made a slave so
/// its detachment cannot propagate anywhere, and detached.
fn pivot_root(new_root: &str, ctx: &mut OpContext, calls: &mut Calls) -> OpResult {
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
    ctx.roots.push(format!("pivot_root {new_root}"));
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
