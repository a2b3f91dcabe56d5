//! The learner's answers to the lessons' questions, kept in localStorage: read once when the page
//! starts, written back whenever they change.

use yew::prelude::*;

use crate::model::quiz::{self, Progress, STORAGE_KEY};

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The progress stored by an earlier visit (none when storage is unavailable or unreadable).
pub fn stored_progress() -> Progress {
    let json = storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    quiz::load(json.as_deref())
}

/// Writes `progress` back each time it changes (a full or blocked storage only loses the record).
#[hook]
pub fn use_progress_store(progress: &Progress) {
    use_effect_with(progress.clone(), |progress| {
        if let Some(s) = storage() {
            let _ = s.set_item(STORAGE_KEY, &quiz::export(progress));
        }
    });
}
