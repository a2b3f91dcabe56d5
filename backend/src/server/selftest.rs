//! The sandbox self-test behind `/readyz`: a tiny real experiment (a container, a tmpfs mounted in
//! it, a snapshot) run through the pool at start and again in the background; its last outcome is
//! kept. A sandbox that cannot work on this host (say `/proc` cannot be mounted) fails it, even
//! though every worker is up.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rootlab_shared::events::RunEvent;
use rootlab_shared::result::{RunResult, RunStatus, StepOutcome};
use rootlab_shared::Spec;
use serde::{Deserialize, Serialize};

use crate::coordinator::{Coordinator, RunUpdate, SubmitError};

/// Pause before trying again after a failure, or while no worker is up to run the test.
const RETRY: Duration = Duration::from_secs(1);

/// Where the self-test stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelfTestState {
    /// Not run yet (the server is starting).
    Pending,
    Passed,
    Failed,
}

/// The last self-test, as `/readyz` and `/healthz` report it.
#[derive(Serialize, Deserialize, Clone, Debug, utoipa::ToSchema)]
pub struct SelfTestStatus {
    pub state: SelfTestState,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Milliseconds since it finished (absent while pending).
    pub age_ms: Option<u64>,
    /// How long it took, ms.
    pub duration_ms: Option<u64>,
    /// Self-tests run since start.
    pub runs: u64,
}

#[derive(Clone)]
struct Outcome {
    error: Option<String>,
    finished: Instant,
    took: Duration,
}

/// The cached outcome. Cheap to share.
#[derive(Default)]
pub struct SelfTest {
    last: Mutex<Option<Outcome>>,
    runs: Mutex<u64>,
}

impl SelfTest {
    pub fn status(&self) -> SelfTestStatus {
        let last = self.last.lock().unwrap().clone();
        let runs = *self.runs.lock().unwrap();
        let Some(last) = last else {
            return SelfTestStatus {
                state: SelfTestState::Pending,
                error: None,
                age_ms: None,
                duration_ms: None,
                runs,
            };
        };
        SelfTestStatus {
            state: match last.error {
                None => SelfTestState::Passed,
                Some(_) => SelfTestState::Failed,
            },
            error: last.error,
            age_ms: Some(last.finished.elapsed().as_millis() as u64),
            duration_ms: Some(last.took.as_millis() as u64),
            runs,
        }
    }

    /// Run the test now and then every `interval` (every second while it fails), until the pool
    /// shuts down. Skipped while no worker is idle or a run waits: it never queues ahead of a
    /// client's run (and no worker alive fails readiness by itself).
    pub fn spawn(self: Arc<Self>, coordinator: Coordinator, interval: Duration) {
        tokio::spawn(async move {
            while !coordinator.is_closing() {
                let pause = match self.run_once(&coordinator).await {
                    Some(true) => interval,
                    _ => RETRY.min(interval),
                };
                tokio::time::sleep(pause).await;
            }
        });
    }

    /// One self-test: `Some(passed)`, or `None` when it could not be tried.
    pub async fn run_once(&self, coordinator: &Coordinator) -> Option<bool> {
        let stats = coordinator.stats();
        let idle = stats.alive.load(Ordering::SeqCst);
        if idle == 0 || stats.waiting.load(Ordering::SeqCst) > 0 || coordinator.is_closing() {
            return None;
        }
        let started = Instant::now();
        let error = match run(coordinator).await {
            Err(Skip) => return None,
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(why),
        };
        if let Some(why) = &error {
            tracing::warn!("sandbox self-test failed: {why}");
        }
        let passed = error.is_none();
        *self.last.lock().unwrap() = Some(Outcome {
            error,
            finished: Instant::now(),
            took: started.elapsed(),
        });
        *self.runs.lock().unwrap() += 1;
        Some(passed)
    }
}

/// The test could not be tried (pool full or closing): no news.
struct Skip;

async fn run(coordinator: &Coordinator) -> Result<Result<(), String>, Skip> {
    let mut handle = match coordinator.submit(spec()) {
        Ok(handle) => handle,
        Err(SubmitError::Busy { .. } | SubmitError::ShuttingDown) => return Err(Skip),
    };
    while let Some(update) = handle.updates.recv().await {
        match update {
            RunUpdate::Event(RunEvent::Finished { result }) => return Ok(check(&result)),
            RunUpdate::Event(_) => {}
            RunUpdate::Failed(err) if coordinator.is_closing() => {
                tracing::debug!("self-test ended by shutdown: {err}");
                return Err(Skip);
            }
            RunUpdate::Failed(err) => return Ok(Err(err.to_string())),
        }
    }
    Ok(Err("the run ended without a result".into()))
}

/// Completed, and every step did what it should.
fn check(result: &RunResult) -> Result<(), String> {
    if result.status != RunStatus::Completed {
        let why = result.message.as_deref().unwrap_or("no message");
        return Err(format!(
            "the self-test run ended {:?}: {why}",
            result.status
        ));
    }
    for step in &result.steps {
        if let StepOutcome::Error(e) = &step.outcome {
            return Err(format!(
                "self-test step {} ({}) failed: {}",
                step.index, step.op, e.message
            ));
        }
    }
    Ok(())
}

/// What a lesson needs: a container's own mount namespace, a tmpfs mounted in it, a snapshot.
fn spec() -> Spec {
    let json = serde_json::json!({
        "title": "rootlab self-test",
        "host": {"root_propagation": "private"},
        "steps": [
            {"op": "container", "name": "c1"},
            {"op": "tmpfs", "in": "c1", "target": "/tmp", "source": "none"},
            {"op": "snapshot", "label": "after", "paths": ["/tmp"]}
        ]
    });
    serde_json::from_value(json).expect("the self-test spec is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_is_valid_under_default_limits() {
        let text = serde_json::to_string(&spec()).unwrap();
        rootlab_shared::validate::parse_spec(&text, &rootlab_shared::Limits::default())
            .expect("valid");
    }

    #[test]
    fn pending_until_run() {
        let test = SelfTest::default();
        assert_eq!(test.status().state, SelfTestState::Pending);
        assert_eq!(test.status().runs, 0);
    }
}
