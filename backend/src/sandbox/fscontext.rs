//! The kernel's own words for a refused mount: the new mount API (fsopen(2), fsconfig(2)) leaves
//! a message on the file system context that mount(2) has no way to return. Asked only after a
//! mount(2) failed, with the same type, source and options, so the fast path never pays for it.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

/// Why the kernel refuses a `fstype` file system with this source and these options (the
/// comma-separated `data` of mount(2)), when it says so; `None` when it gives no message.
pub fn kernel_message(fstype: &str, source: Option<&str>, data: Option<&str>) -> Option<String> {
    let ctx = open(fstype)?;
    let configured = source.is_none_or(|s| set(&ctx, "source", Some(s)))
        && data
            .unwrap_or("")
            .split(',')
            .filter(|o| !o.is_empty())
            .all(|o| match o.split_once('=') {
                Some((k, v)) => set(&ctx, k, Some(v)),
                None => set(&ctx, o, None),
            });
    if configured {
        // SAFETY: fsconfig on a descriptor we own, with no key or value.
        unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        };
    }
    last_error(&ctx)
}

fn open(fstype: &str) -> Option<OwnedFd> {
    let name = CString::new(fstype).ok()?;
    // SAFETY: a NUL-terminated name and flags; the descriptor returned is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
    // SAFETY: a fresh descriptor owned by nothing else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Set one parameter; false when the kernel refused it (its message is then on the context).
fn set(ctx: &OwnedFd, key: &str, value: Option<&str>) -> bool {
    let Ok(key) = CString::new(key) else {
        return false;
    };
    let value = match value.map(CString::new) {
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return false,
        None => None,
    };
    let (cmd, ptr) = match &value {
        Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
        None => (FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: NUL-terminated key and value that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            cmd,
            key.as_ptr(),
            ptr,
            0,
        )
    };
    rc == 0
}

/// The context's messages are read one per read(2), each `e `, `w ` or `i ` then the text;
/// the last error is the reason.
fn last_error(ctx: &OwnedFd) -> Option<String> {
    let mut last = None;
    let mut buf = [0u8; 1024];
    for _ in 0..16 {
        // SAFETY: reading into a buffer we own, at most its length.
        let n = unsafe { libc::read(ctx.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf[..n as usize])
            .trim()
            .to_string();
        if let Some(text) = line.strip_prefix("e ") {
            last = Some(text.to_string());
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_says_why_in_its_own_words() {
        assert_eq!(
            kernel_message("tmpfs", Some("none"), Some("size=abc")).as_deref(),
            Some("tmpfs: Bad value for 'size'")
        );
        assert_eq!(
            kernel_message("tmpfs", None, Some("mode=755,bogus=1")).as_deref(),
            Some("tmpfs: Unknown parameter 'bogus'")
        );
        assert_eq!(kernel_message("no-such-fs", None, None), None);
    }
}
