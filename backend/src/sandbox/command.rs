//! The shell command a person would type for each step, as shown beside its system calls.

use rootlab_shared::spec::{OverlayOption, Step};
use rootlab_shared::Limits;

use super::rootfs;
use super::sys::MsFlags;

/// The tmpfs options of a tmpfs step: its size capped by the disk limit, and the inode limit.
pub fn tmpfs_data(limits: &Limits, size: Option<u64>, mode: Option<u32>) -> String {
    let size = size.unwrap_or(limits.disk_bytes).min(limits.disk_bytes);
    let mut data = format!("size={size},nr_inodes={}", limits.inodes);
    if let Some(m) = mode {
        data.push_str(&format!(",mode={:o}", m & 0o7777));
    }
    data
}

/// `MS_BIND|MS_REC` style names, `0` for none.
pub fn flag_names(flags: MsFlags) -> String {
    const NAMES: [(MsFlags, &str); 15] = [
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
        (MsFlags::MS_MOVE, "MS_MOVE"),
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

/// The options of an overlay mount: its layers (under `/layers`), `userxattr` (an unprivileged
/// overlay keeps whiteouts and opaque markers in user.* xattrs), then the features asked for.
pub fn overlay_data(lowers: &[String], upper: Option<&str>, options: &[OverlayOption]) -> String {
    let lowerdir: Vec<String> = lowers.iter().map(|l| format!("/layers/{l}")).collect();
    let mut data = format!("lowerdir={}", lowerdir.join(":"));
    if let Some(u) = upper {
        data.push_str(&format!(",upperdir=/layers/{u},workdir=/layers/.work-{u}"));
    }
    data.push_str(",userxattr");
    for o in options {
        data.push(',');
        data.push_str(o.option_text());
    }
    data
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
            propagation,
            ..
        } => {
            let kind = if *recursive { "--rbind" } else { "--bind" };
            let ro = if *readonly { " -o ro" } else { "" };
            let make = propagation.map_or(String::new(), |p| {
                let r = if *recursive { "r" } else { "" };
                format!(" --make-{r}{}", p.as_str())
            });
            format!("mount {kind}{make}{ro} {} {}", q(source), q(target))
        }
        Step::Move { source, target, .. } => {
            format!("mount --move {} {}", q(source), q(target))
        }
        Step::Overlay {
            target,
            lowers,
            upper,
            options,
            ..
        } => {
            let opts = overlay_data(lowers, upper.as_deref(), options);
            format!("mount -t overlay overlay -o {opts} {}", q(target))
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
        Step::Run {
            argv, background, ..
        } => {
            let words = argv.iter().map(|a| q(a)).collect::<Vec<_>>().join(" ");
            if *background {
                format!("{words} &")
            } else {
                words
            }
        }
        Step::Wait { .. } => "wait".into(),
        Step::Escape { .. } => {
            "mkdir .escape && chroot .escape && cd ../../..(x64) && chroot . && ls /".into()
        }
        Step::Exit { .. } => "exit".into(),
        Step::Commit {
            container,
            name,
            message,
        } => commit_command(container, name.as_str(), message.as_deref()),
    }
}

/// `docker commit`, and the work it stands for: a tar of the container's writable layer (what
/// `docker commit` does itself, whiteouts and opaque directories turned into OCI's markers).
pub fn commit_command(container: &str, name: &str, message: Option<&str>) -> String {
    let m = message.map_or(String::new(), |m| format!("-m {} ", shell_quote(m)));
    format!(
        "docker commit {m}{} {}  # = tar -C /layers/{}.upper -cf - . (char 0:0 -> .wh.<name>, opaque dir -> .wh..wh..opq)",
        shell_quote(container),
        shell_quote(name),
        container
    )
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
        assert_eq!(flag_names(MsFlags::MS_MOVE), "MS_MOVE");
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
}
