//! The wire protocol between the server's coordinator and a sandbox worker process:
//! one JSON document per line, requests on the worker's stdin, messages on its stdout.
//!
//! A worker announces `ready`, then serves requests one at a time: for each it sends `event`s
//! (ending with a `finished` event carrying the whole result) or one `error`, then `idle` once
//! that request's sandbox is torn down (the result goes out first, so tear-down costs no latency). To cancel a run, the
//! coordinator kills the worker; the sandbox dies with it (parent-death signal, pid namespace).

use rootlab_shared::events::RunEvent;
use rootlab_shared::{Limits, Spec};
use serde::{Deserialize, Serialize};

/// Run this spec under these limits. The spec has already been validated by the sender; the
/// worker validates it again (it trusts nobody).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct WorkerRequest {
    pub id: u64,
    pub spec: Spec,
    pub limits: Limits,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMessage {
    /// The worker is up, its base images are built, and it waits for requests.
    Ready { pid: u32, images: Vec<String> },
    /// Progress of request `id`; `RunEvent::Finished` ends it.
    Event { id: u64, event: RunEvent },
    /// Request `id` could not run at all (not a step failure: those are results).
    Error { id: u64, error: ErrorChain },
    /// Every process, mount and cgroup of request `id` is gone; the worker reads the next request.
    Idle { id: u64 },
}

/// An error and its causes, carried across the process boundary.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorChain {
    pub message: String,
    #[serde(default)]
    pub source: Option<Box<ErrorChain>>,
}

impl ErrorChain {
    /// Capture `err` and all its sources.
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> Self {
        ErrorChain {
            message: err.to_string(),
            source: err.source().map(|s| Box::new(ErrorChain::from_error(s))),
        }
    }
}

impl std::fmt::Display for ErrorChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        let mut next = &self.source;
        while let Some(s) = next {
            write!(f, ": {}", s.message)?;
            next = &s.source;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorChain {}
