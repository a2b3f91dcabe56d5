//! The system calls no user program may make: a seccomp filter every program gets before exec.
//!
//! The walls of the sandbox are namespaces, ids and limits; this filter takes away the parts of
//! the kernel that those do not split per sandbox, or that no lesson needs and that are the
//! usual way from a user namespace into the kernel:
//!
//! - keyrings (`keyctl`, `add_key`, `request_key`) belong to the host uid, not to a namespace,
//!   so two runs that share a sandbox uid would share them;
//! - other processes' memory (`ptrace`, `process_vm_*`, `pidfd_getfd`, `kcmp`);
//! - large kernel attack surfaces (`bpf`, `perf_event_open`, `userfaultfd`, `io_uring_*`);
//! - what only the host's root may do anyway (modules, kexec, reboot, swap, clocks, quotas,
//!   `open_by_handle_at`, ...), so that a kernel bug in a capability check does not count.
//!
//! Mounts, `unshare`, `setns`, `pivot_root` and `chroot` stay allowed: they are the lessons.
//! A denied call fails with `EPERM`; a call in another ABI (i386's `int 0x80`, x32 numbers)
//! kills the program, since a deny list checked by number is only sound for the native one
//! (libseccomp emits the x32 check). The filter is compiled once per worker into classic BPF
//! and installed after fork with two plain system calls, with `no_new_privs` set.

use std::io::{Read, Seek, SeekFrom};
use std::sync::OnceLock;

use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};

use super::sys::{Errno, SysResult};

/// The calls a program is refused, by name.
pub const DENIED: &[&str] = &[
    // Keyrings: not namespaced.
    "keyctl",
    "add_key",
    "request_key",
    // Other processes' memory and descriptors.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    // Large kernel attack surface no lesson needs.
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "fanotify_init",
    "open_by_handle_at",
    "lookup_dcookie",
    "mbind",
    "set_mempolicy",
    "migrate_pages",
    "move_pages",
    // The host's, whatever the capability checks say.
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "quotactl",
    "quotactl_fd",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "vhangup",
    "iopl",
    "ioperm",
    "uselib",
];

/// A compiled filter, ready to install.
pub struct SyscallFilter {
    program: Vec<libc::sock_filter>,
}

static GLOBAL: OnceLock<Result<SyscallFilter, String>> = OnceLock::new();

impl SyscallFilter {
    /// The worker's filter, compiled on first use. Call it before forking anything that
    /// installs it, so that children only copy, never allocate.
    pub fn global() -> Result<&'static SyscallFilter, String> {
        GLOBAL
            .get_or_init(SyscallFilter::compile)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Compile [`DENIED`] for this machine's ABI.
    pub fn compile() -> Result<SyscallFilter, String> {
        let why = |e: libseccomp::error::SeccompError| format!("seccomp filter: {e}");
        let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).map_err(why)?;
        ctx.set_act_badarch(ScmpAction::KillProcess).map_err(why)?;
        // no_new_privs is set by `install`, which loads the program itself.
        ctx.set_ctl_nnp(false).map_err(why)?;
        for name in DENIED {
            // A call this ABI lacks (iopl on arm64) needs no rule.
            if let Ok(call) = ScmpSyscall::from_name(name) {
                ctx.add_rule(ScmpAction::Errno(libc::EPERM), call)
                    .map_err(why)?;
            }
        }
        let mut file = memfd().map_err(|e| format!("seccomp filter: memfd: {e}"))?;
        ctx.export_bpf(&file).map_err(why)?;
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| format!("seccomp filter: reading the program: {e}"))?;
        Ok(SyscallFilter {
            program: decode(&bytes)?,
        })
    }

    /// Instructions in the program (for tests and logs).
    pub fn len(&self) -> usize {
        self.program.len()
    }

    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// Set `no_new_privs` and install the filter on the calling thread. Only system calls: safe
    /// in a forked child of a single-threaded process.
    pub fn install(&self) -> SysResult<()> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prctl with integer arguments; seccomp reads `prog`, which outlives the call.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(Errno::last());
            }
            let rc = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            );
            if rc != 0 {
                return Err(Errno::last());
            }
        }
        Ok(())
    }
}

fn memfd() -> std::io::Result<std::fs::File> {
    // SAFETY: a C string literal and flags; the descriptor returned is owned by the File.
    let fd = unsafe { libc::memfd_create(c"rootlab-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Classic BPF as the kernel reads it: 8-byte instructions in native byte order.
fn decode(bytes: &[u8]) -> Result<Vec<libc::sock_filter>, String> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(8) || bytes.len() / 8 > u16::MAX as usize {
        return Err(format!(
            "seccomp filter: libseccomp exported {} bytes",
            bytes.len()
        ));
    }
    let insn = |c: &[u8]| libc::sock_filter {
        code: u16::from_ne_bytes([c[0], c[1]]),
        jt: c[2],
        jf: c[3],
        k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
    };
    Ok(bytes.chunks_exact(8).map(insn).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_with_a_rule_per_denied_call() {
        let f = SyscallFilter::compile().unwrap();
        // An arch check, the x32 check, a load and a return per denied call at least.
        assert!(f.len() > DENIED.len(), "{} instructions", f.len());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_denied_name_is_a_call_of_this_abi() {
        for name in DENIED {
            assert!(ScmpSyscall::from_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn refuses_a_program_that_is_not_whole_instructions() {
        assert!(decode(&[0; 12]).is_err());
        assert!(decode(&[]).is_err());
        assert_eq!(decode(&[0; 16]).unwrap().len(), 2);
    }
}
