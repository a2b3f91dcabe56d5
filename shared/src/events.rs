//! Progress events of a running experiment, streamed from the sandbox to the server and on to clients.

use serde::{Deserialize, Serialize};

use crate::result::{RunResult, StepResult};

/// One event in the life of a run. A stream ends with `finished` (or, on the HTTP API, an error).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// Waiting for a free sandbox slot; `position` 0 means next.
    Queued { position: usize },
    /// The sandbox is up; `steps` steps will run.
    Started { steps: usize },
    /// Step `index` is about to run.
    StepStarted {
        index: usize,
        op: String,
        actor: String,
    },
    /// Step `index` is done (successfully or refused by the kernel).
    StepFinished { result: Box<StepResult> },
    /// The run is over; the whole result document.
    Finished { result: Box<RunResult> },
}
