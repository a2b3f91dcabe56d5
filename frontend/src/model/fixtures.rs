//! Real results of every preset (`frontend/tests/fixtures/`, written by `rootlab run <id> --json`)
//! with the preset's spec, for tests of what the page makes of them.

use rootlab_shared::result::RunResult;
use rootlab_shared::spec::Spec;

macro_rules! fixture {
    ($id:literal) => {
        (
            $id,
            serde_json::from_str::<RunResult>(include_str!(concat!(
                "../../tests/fixtures/",
                $id,
                ".json"
            )))
            .expect($id),
            rootlab_shared::presets::get($id).expect($id).spec,
        )
    };
}

/// (preset id, its real result, its spec), in lesson order.
pub fn fixtures() -> Vec<(&'static str, RunResult, Spec)> {
    vec![
        fixture!("seed-inherit"),
        fixture!("seed-tmpfs"),
        fixture!("seed-propagation-leak"),
        fixture!("seed-propagation-private"),
        fixture!("seed-propagation-slave"),
        fixture!("propagation-userns"),
        fixture!("bind-rslave"),
        fixture!("move-mount"),
        fixture!("background-watch"),
        fixture!("seed-chroot"),
        fixture!("seed-chroot-missing-lib"),
        fixture!("seed-kernel"),
        fixture!("seed-union"),
        fixture!("overlay-options"),
        fixture!("seed-layers"),
        fixture!("image-layers"),
        fixture!("pivot-vs-chroot"),
    ]
}
