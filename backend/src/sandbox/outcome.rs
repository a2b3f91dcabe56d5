//! What an op produces: the [`Performed`] record sent back to the lab init, the syscall trace
//! ([`Calls`]) every op writes as it goes, and the errors a refused call becomes.

use std::io;
use std::path::Path;

use rootlab_shared::result::{CommandOutput, StepDetails, StepError, StepOutcome};
use serde::{Deserialize, Serialize};

use super::command::flag_names;
use super::explain::explain;
use super::fscontext;
use super::sys::{self, Errno, MntFlags, MsFlags};

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
    /// Append `part` (a later part of the same step): its command after `&&`, its calls, and its
    /// outcome when it failed. Whether it succeeded.
    pub fn absorb(&mut self, part: Performed) -> bool {
        if !part.command.is_empty() {
            if !self.command.is_empty() {
                self.command.push_str(" && ");
            }
            self.command.push_str(&part.command);
        }
        self.syscalls.extend(part.syscalls);
        let ok = matches!(part.outcome, StepOutcome::Ok);
        if !ok {
            self.outcome = part.outcome;
        }
        ok
    }

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
        let text = mount_text(source, target, fstype, flags, data);
        self.call(op, text, || {
            sys::mount(source, Path::new(target), fstype, flags, data)
        })
        .map_err(|mut e| {
            // A new file system refused: the kernel may say why in its own words.
            let said = fstype.and_then(|t| fscontext::kernel_message(t, source, data));
            if let Some(said) = said {
                e.explanation = format!("the kernel says: \"{said}\"");
            }
            e
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

/// `mount(...)` as strace shows it.
pub fn mount_text(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> String {
    let q = |s: Option<&str>| s.map_or("NULL".to_string(), |s| format!("\"{s}\""));
    format!(
        "mount({}, \"{target}\", {}, {}, {})",
        q(source),
        q(fstype),
        flag_names(flags),
        q(data)
    )
}

/// `chmod`, with only the permission bits of `mode`.
pub fn set_mode(path: &str, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pivot_root_einval_is_explained() {
        let e = sys_error("pivot_root", "pivot_root(\".\", \".\")", Errno::EINVAL);
        assert_eq!(e.errno.as_deref(), Some("EINVAL"));
        assert!(e.explanation.contains("shared"));
    }
}
