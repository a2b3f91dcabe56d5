//! The worker's half of a `commit` step: the layer tar the sandbox sent is hostile input, read
//! by the store's hardened unpacker (as an import is), listed, and — when this engine keeps
//! commits — installed as a new image on the container's image. The step's details say what
//! the store read, never what the sandbox claimed.

use rootlab_shared::result::{Committed, StepDetails, StepError, StepOutcome, StepResult};
use rootlab_shared::spec::{commit_created_by, ImageRef, Step};
use rootlab_shared::Spec;

use super::follow::ReceivedLayer;
use super::store_of;
use crate::config::EngineConfig;
use crate::store::StoreError;

/// What a result says when the engine does not keep commits.
pub const NOT_KEPT: &str = "this server does not keep commits: the layer was read and listed, then dropped (start it with `rootlab serve --allow-commit` or ROOTLAB_ALLOW_COMMIT=1 to store it as an image; `rootlab run` always does)";

/// Fill in the result of the commit step `index` from its layer.
pub fn finish(
    cfg: &EngineConfig,
    spec: &Spec,
    index: usize,
    layer: ReceivedLayer,
    result: &mut StepResult,
) {
    let Some(Step::Commit {
        container,
        name,
        message,
    }) = spec.steps.get(index)
    else {
        return;
    };
    let Some(parent) = image_of(spec, container) else {
        return;
    };
    let created_by = commit_created_by(container, message.as_deref());
    let keep = cfg.allow_commit.then_some(name.as_str());
    let made = store_of(cfg, |s| s.commit_tar(&layer.tar, parent, keep, &created_by));
    result.syscalls.push(
        "worker: the store reads the tar with its hardened unpacker (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS per entry), as an import".into(),
    );
    match made {
        Ok(c) => {
            let mut skipped = layer.skipped;
            skipped.extend(c.warnings);
            result.details = Some(StepDetails::Committed(Committed {
                parent: parent.clone(),
                diff_id: c.layer.diff_id,
                tar_bytes: layer.tar.len() as u64,
                size: c.layer.size,
                entries: c.entries,
                skipped,
                note: c.image.is_none().then(|| NOT_KEPT.to_string()),
                image: c.image,
            }));
        }
        Err(e) => result.outcome = StepOutcome::Error(refused(index, &e)),
    }
}

/// The image the container `name` was started from.
fn image_of<'s>(spec: &'s Spec, name: &str) -> Option<&'s ImageRef> {
    spec.steps.iter().find_map(|s| match s {
        Step::Container {
            name: n,
            image: Some(image),
            ..
        } if n == name => Some(image),
        _ => None,
    })
}

fn refused(index: usize, e: &StoreError) -> StepError {
    let (message, explanation) = match e {
        StoreError::Taken(_) | StoreError::BadRef(..) => (
            format!("steps[{index}].name: {e}"),
            "an image name is given once; the images others run from are never replaced",
        ),
        e if e.is_invalid_input() => (
            format!("the committed layer was refused: {e}"),
            "the store reads a layer from a sandbox as it reads an import: anything that could reach outside the layer is refused",
        ),
        e => (
            format!("the store could not keep the commit: {e}"),
            "a failure of the machine (disk, quota), not of the experiment",
        ),
    };
    StepError {
        errno: None,
        code: None,
        message,
        explanation: explanation.into(),
    }
}
