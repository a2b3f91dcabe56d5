//! "What you should see": the lesson's point in one plain sentence, with the evidence cut from the
//! real result (the leaked mount row, escaped vs contained, two `uname` lines side by side...).
//! Chosen from the shape of the result, so a composed experiment of the same shape gets one too.

mod attempts;
mod mounts;
mod steps;
#[cfg(test)]
mod tests;
mod trees;
mod volume;

pub use trees::entries;

use rootlab_shared::result::{MountEntry, RunResult};
use rootlab_shared::spec::Spec;

/// How the point reads: a leak or an escape is bad news, a contained one good news.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Bad,
    Good,
    Neutral,
}

impl Tone {
    pub fn css(self) -> &'static str {
        match self {
            Tone::Bad => "bad",
            Tone::Good => "good",
            Tone::Neutral => "neutral",
        }
    }
}

/// The card: a sentence and its evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub tone: Tone,
    pub sentence: String,
    pub evidence: Evidence,
}

/// The part of the result that proves the sentence.
#[derive(Clone, Debug, PartialEq)]
pub enum Evidence {
    /// The same escape attempt from several roots.
    Escapes(Vec<Escape>),
    /// A program the kernel refused to start.
    Refused(Refusal),
    /// Mount-table rows for one target in several tables (before, inside, after).
    Mounts(Vec<MountLine>),
    /// Entries of a merged tree or of a layer, with where each comes from.
    Entries {
        title: String,
        items: Vec<EntryLine>,
    },
    /// What commands printed, side by side.
    Outputs(Vec<OutputLine>),
    /// One directory as several actors list it.
    Listings(Vec<Listing>),
    /// Steps the kernel refused (and allowed), with the mount-table rows they changed.
    Attempts {
        attempts: Vec<Attempt>,
        mounts: Vec<MountLine>,
    },
}

impl Evidence {
    /// `data-kind` of the evidence block (tests and CSS key on it).
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::Escapes(_) => "escapes",
            Evidence::Refused(_) => "refused",
            Evidence::Mounts(_) => "mounts",
            Evidence::Entries { .. } => "entries",
            Evidence::Outputs(_) => "outputs",
            Evidence::Listings(_) => "listings",
            Evidence::Attempts { .. } => "attempts",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Escape {
    pub actor: String,
    /// How the actor's root was set: `chroot` or `pivot_root`.
    pub how: String,
    pub escaped: bool,
    /// `ls /` after the attempt.
    pub listing: Vec<String>,
}

/// A step as tried: its command and what the kernel answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub actor: String,
    pub command: String,
    /// `EINVAL`...; `None` when it succeeded.
    pub errno: Option<String>,
    /// Why it was refused, or what it left behind (`the mount table shows fsync=volatile`).
    pub note: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub actor: String,
    pub command: String,
    pub errno: String,
    pub message: String,
    pub explanation: String,
}

/// What a row of the evidence says about a mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountMark {
    /// A container's mount found in the host's table.
    Leaked,
    /// The mount, where it belongs (the container that made it, or one it propagated to on purpose).
    Present,
    /// No such mount in this table: for a host after a container mounted, good news.
    Absent,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MountLine {
    /// Whose table, when: `host · host before`.
    pub table: String,
    pub target: String,
    /// The row, when the table has one for `target`.
    pub row: Option<MountEntry>,
    pub mark: MountMark,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EntryLine {
    /// Path relative to the tree's root.
    pub path: String,
    pub layer: Option<String>,
    /// `whiteout`, `opaque`, `copied up`, `new`, or empty.
    pub note: String,
    pub preview: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutputLine {
    pub actor: String,
    pub command: String,
    pub stdout: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    pub actor: String,
    pub root: String,
    pub names: Vec<String>,
}

/// The point of this result, if its shape has one: the first detector that recognises it wins,
/// most specific first.
pub fn point(result: &RunResult, spec: Option<&Spec>) -> Option<Point> {
    steps::escapes(result)
        .or_else(|| steps::refused(result))
        .or_else(|| spec.and_then(|s| steps::background(result, s)))
        .or_else(|| spec.and_then(|s| attempts::moved(result, s)))
        .or_else(|| spec.and_then(|s| attempts::overlay_options(result, s)))
        .or_else(|| spec.and_then(|s| attempts::rootless(result, s)))
        .or_else(|| spec.and_then(|s| volume::volume(result, s)))
        .or_else(|| spec.and_then(|s| mounts::propagation(result, s)))
        .or_else(|| spec.and_then(|s| trees::container_layer(result, s)))
        .or_else(|| trees::layers(result))
        .or_else(|| steps::same_command(result))
        .or_else(|| steps::chrooted_output(result))
        .or_else(|| trees::listings(result))
}

/// `a, b and c`.
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
