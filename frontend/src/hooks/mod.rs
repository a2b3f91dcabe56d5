//! Reusable hooks: running an experiment, the 429 retry countdown, the share link in the URL and
//! Back/Forward, bringing a finished run into view, watching for the server to come back, the
//! quiz progress in localStorage, the Images page's route.

mod use_countdown;
mod use_history;
mod use_images_route;
mod use_link;
mod use_progress;
mod use_reveal;
mod use_runner;
mod use_server_watch;

pub use use_countdown::use_retry_countdown;
pub use use_history::{apply_link, use_history};
pub use use_images_route::{go_to_fragment, push_fragment, use_images_route};
pub use use_link::{current_link, use_link_sync};
pub use use_progress::{stored_progress, use_progress_store};
pub use use_reveal::{reveal, use_reveal};
pub use use_runner::{use_runner, Runner};
pub use use_server_watch::use_server_watch;
