//! The fields of a `commit` step: the container whose writable layer it takes, the new image's
//! name and its history message.

use super::rules::control_char_problem;
use super::Checker;
use crate::image::ImageRef;

/// Longest commit message (`created_by`), in bytes.
pub const MAX_COMMIT_MESSAGE: usize = 1024;

/// `known`: `container` was started from an image by an earlier step; `taken`: an earlier
/// commit of this spec makes the same name.
pub(super) fn check(
    c: &mut Checker,
    field: &str,
    container: &str,
    known: bool,
    name: &ImageRef,
    taken: bool,
    message: Option<&str>,
) {
    if !known {
        c.err(
            format!("{field}.container"),
            format!("`{container}` is not a container started from an image by an earlier step (a `container` step with `image`): only those have a writable layer to commit"),
        );
    }
    let nf = format!("{field}.name");
    if let Err(why) = name.check() {
        c.err(&nf, why);
    } else if name.digest().is_some() {
        c.err(&nf, "a commit makes a name (`my-app:v2`), not a digest");
    } else if name.is_builtin() {
        c.err(
            &nf,
            format!("`{name}` is a built-in image; give the commit another name"),
        );
    } else if taken {
        c.err(
            &nf,
            format!("an earlier commit of this spec already makes `{name}`"),
        );
    }
    if let Some(m) = message {
        let problem = if m.len() > MAX_COMMIT_MESSAGE {
            Some(format!("longer than {MAX_COMMIT_MESSAGE} bytes"))
        } else if m.is_empty() {
            Some("empty; leave it out for the default".to_string())
        } else {
            control_char_problem(m)
        };
        c.found(&format!("{field}.message"), problem);
    }
}
