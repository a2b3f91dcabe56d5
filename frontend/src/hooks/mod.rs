//! Reusable hooks: running an experiment, the 429 retry countdown, the share link in the URL,
//! bringing a finished run into view.

mod use_countdown;
mod use_link;
mod use_reveal;
mod use_runner;

pub use use_countdown::use_retry_countdown;
pub use use_link::{current_link, use_link_sync};
pub use use_reveal::{reveal, use_reveal};
pub use use_runner::{use_runner, Runner};
