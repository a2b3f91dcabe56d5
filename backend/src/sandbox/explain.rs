//! One-line explanations, for learners, of why the kernel refused a step.

use super::sys::Errno;

/// Why `errno` happened for this op, in words a workshop attendee can act on.
pub fn explain(op: &str, errno: Errno) -> String {
    specific(op, errno)
        .map(str::to_string)
        .unwrap_or_else(|| generic(errno))
}

fn specific(op: &str, errno: Errno) -> Option<&'static str> {
    use Errno::*;
    Some(match (op, errno) {
        ("pivot_root", EINVAL) => {
            "new_root or its parent mount is shared (or new_root is not a mount point); make / private (or slave) first"
        }
        ("pivot_root", EBUSY) => "new_root or put_old is the current root, or is already mounted there",
        ("pivot_root", ENOTDIR) => "new_root is not a directory",
        ("chroot", ENOENT) => "the directory to chroot into does not exist in this view",
        ("chroot", ENOTDIR) => "chroot needs a directory",
        ("umount", EBUSY) => {
            "the mount is in use (a process has its root, working directory or an open file there); try a lazy (detach) umount"
        }
        ("umount", EINVAL) => "the target is not a mount point (or is locked by a more privileged namespace)",
        ("umount", EPERM) => "this mount was inherited from a more privileged namespace and is locked",
        ("remount_readonly", EINVAL) => "the target is not a mount point",
        ("remount_readonly", EPERM) => {
            "the mount carries flags locked by a more privileged namespace, which a remount may not drop"
        }
        ("make_propagation", EINVAL) => "the target is not a mount point; propagation belongs to mounts, not directories",
        ("overlay", EINVAL) => {
            "overlayfs refused the layers: an upper must not be on overlayfs, and upper and work must share a file system"
        }
        ("overlay", EBUSY) => "the upper or work directory is already in use by another overlay mount",
        ("move", EINVAL) => {
            "only a mount point can be moved, and not out of a shared parent mount: make the parent private first"
        }
        ("move", ELOOP) => "a mount cannot be moved below itself",
        ("bind", EINVAL) => "the source cannot be bound here (unbindable mount, or a mount of another namespace)",
        ("proc", EPERM) => "proc can only be mounted by the owner of the pid namespace, with an unobscured /proc in sight",
        (_, EBUSY) => "something is already mounted there, or the mount is in use",
        (_, ENOENT) => "the path does not exist in this actor's view (after its chroot, paths are inside the new root)",
        (_, ENOTDIR) => "a component of the path is not a directory",
        (_, ENOSPC) => "the tmpfs is full: the disk (size=) or inode (nr_inodes=) limit of the sandbox was reached",
        (_, EROFS) => "the file system is mounted read-only here",
        (_, EAGAIN) => "the process limit of the sandbox (pids) was reached: cannot fork",
        (_, ENOMEM) => "the memory limit of the sandbox was reached",
        (_, EACCES) => "permission denied: the mode bits do not allow it",
        (_, EEXIST) => "the path already exists",
        _ => return None,
    })
}

fn generic(errno: Errno) -> String {
    format!("the kernel refused: {}", errno.desc())
}
