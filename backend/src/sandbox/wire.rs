//! Every message that crosses a process boundary of the sandbox, in one place: the lab init's
//! reports to the engine, and the lab init's requests to its actors with their replies. Each
//! direction has a size bound; the receiver enforces it (see [`super::channel`]).

use rootlab_shared::result::{Running, Snapshot, StepResult, Tree};
use rootlab_shared::spec::Step;
use serde::{Deserialize, Serialize};

use super::outcome::Performed;

/// The largest single message a sandbox process may send (a snapshot of several views of
/// `max_tree_entries` entries fits many times over; the lab init trims anything bigger).
pub const MAX_MESSAGE: usize = 16 << 20;
/// The most the lab init may send the engine over a whole run.
pub const MAX_RUN: usize = 64 << 20;
/// The most of one actor's mount table the observer reads.
pub const MAX_MOUNTINFO: usize = 4 << 20;

/// What the lab init tells the engine, one JSON line each.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(tag = "m", rename_all = "snake_case")]
pub enum LabMessage {
    /// The lab host is built; steps start.
    Ready,
    StepStarted {
        index: usize,
        op: String,
        actor: String,
    },
    Snapshot {
        snapshot: Box<Snapshot>,
    },
    /// A `commit` step's layer tar (base64), sent before the step finishes, and the entries
    /// the tar leaves out.
    Layer {
        step: usize,
        tar: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<String>,
    },
    StepFinished {
        result: Box<StepResult>,
    },
    /// The lab could not be built or went wrong; the message says what.
    Fatal {
        message: String,
    },
    /// Every step ran; `notes` say what the learner should know about the end (background
    /// programs still running, killed with the sandbox).
    Done {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
}

/// The first line an actor sends: set up, or the errno of what failed.
#[derive(Serialize, Deserialize)]
pub struct Hello {
    #[serde(default)]
    pub errno: Option<i32>,
}

/// What the lab init asks of an actor.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "r", rename_all = "snake_case")]
pub enum ActorRequest {
    /// Perform a step in the actor's root and namespaces.
    Step { step: Box<Step> },
    /// Read the actor's mount table and walk these paths as the actor sees them.
    Observe { paths: Vec<String>, depth: u32 },
    /// Which background programs are still running (asked at the run's end).
    Leftovers,
}

/// An actor's answer to one request.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "a", rename_all = "snake_case")]
pub enum ActorReply {
    Performed { done: Box<Performed> },
    Observed(Observed),
    Leftovers { running: Vec<Running> },
}

/// One view, as its actor saw it.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Observed {
    /// `/proc/<actor>/mountinfo`, at most [`MAX_MOUNTINFO`] bytes.
    pub mountinfo: String,
    /// The mount table was longer than the observer reads.
    pub mountinfo_cut: bool,
    /// One tree per requested path (entries' `layer` is left for the lab init to fill).
    pub trees: Vec<Tree>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An internally tagged enum cannot carry a bare sequence: every message must serialize.
    #[test]
    fn leftover_requests_and_replies_cross_the_socket() {
        let running = vec![Running {
            argv: vec!["sleep".into(), "30".into()],
            pid: Some(2),
        }];
        let reply = serde_json::to_string(&ActorReply::Leftovers { running }).unwrap();
        let back: ActorReply = serde_json::from_str(&reply).unwrap();
        assert!(matches!(back, ActorReply::Leftovers { running } if running[0].pid == Some(2)));
        let ask = serde_json::to_string(&ActorRequest::Leftovers).unwrap();
        assert!(matches!(
            serde_json::from_str::<ActorRequest>(&ask).unwrap(),
            ActorRequest::Leftovers
        ));
        let done = serde_json::to_string(&LabMessage::Done { notes: vec![] }).unwrap();
        assert_eq!(done, r#"{"m":"done"}"#);
    }
}
