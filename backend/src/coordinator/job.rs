//! One run's life in the pool: wait for a slot, take an idle worker, forward its events, and give
//! the worker back or have it replaced (a lease returns it exactly once).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rootlab_shared::events::RunEvent;
use rootlab_shared::result::RunStatus;
use rootlab_shared::Spec;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use super::process::Worker;
use super::workers::Refill;
use super::{Coordinator, RunError, RunUpdate};
use crate::protocol::WorkerRequest;

/// One run, from the queue to its last update.
pub(super) struct Job {
    pub(super) coordinator: Coordinator,
    /// The public run id (the key of `Inner::runs`).
    pub(super) id: String,
    /// The id of the request sent to the worker.
    pub(super) request: u64,
    pub(super) spec: Spec,
    pub(super) tx: mpsc::Sender<RunUpdate>,
    pub(super) cancel: CancellationToken,
    /// The server-side deadline, queueing included.
    pub(super) deadline: tokio::time::Instant,
}

impl Job {
    pub(super) async fn drive(self, permit: Option<OwnedSemaphorePermit>, position: Option<usize>) {
        let started = Instant::now();
        let outcome = self.queue_and_run(permit, position).await;
        self.record(&outcome, started.elapsed());
        if let Err(err) = outcome {
            let _ = self.tx.send(RunUpdate::Failed(err)).await;
        }
        self.coordinator.inner.runs.lock().unwrap().remove(&self.id);
    }

    /// Wait for a slot (unless one was free at submit time), then run.
    async fn queue_and_run(
        &self,
        permit: Option<OwnedSemaphorePermit>,
        position: Option<usize>,
    ) -> Result<RunStatus, RunError> {
        let permit = match permit {
            Some(permit) => permit,
            None => {
                let waited = self.wait_for_slot(position.unwrap_or(0)).await;
                self.coordinator
                    .inner
                    .stats
                    .waiting
                    .fetch_sub(1, Ordering::SeqCst);
                waited?
            }
        };
        // Only waits when the slot's worker was lost while idle and is being replaced.
        let stop = self.stopped();
        tokio::pin!(stop);
        // Counted busy from here on.
        let worker = self.coordinator.take_idle(stop).await?;
        let mut lease = Lease {
            coordinator: self.coordinator.clone(),
            worker: Some(worker),
            permit: Some(permit),
        };
        let result = self.run_on(&mut lease).await;
        match &result {
            Ok(_) | Err(RunError::Worker(_)) => lease.release(),
            Err(_) => lease.replace().await,
        }
        result
    }

    /// Why the run must stop waiting, when it must: cancelled, client gone, or deadline.
    async fn stopped(&self) -> RunError {
        tokio::select! {
            _ = self.cancel.cancelled() => self.cancel_reason(),
            _ = self.tx.closed() => RunError::Cancelled,
            _ = tokio::time::sleep_until(self.deadline) => self.timeout(),
        }
    }

    async fn wait_for_slot(&self, position: usize) -> Result<OwnedSemaphorePermit, RunError> {
        let queued = RunUpdate::Event(RunEvent::Queued { position });
        if self.tx.send(queued).await.is_err() {
            return Err(RunError::Cancelled);
        }
        let slots = self.coordinator.inner.slots.clone();
        tokio::select! {
            permit = slots.acquire_owned() => permit.map_err(|_| RunError::ShuttingDown),
            reason = self.stopped() => Err(reason),
        }
    }

    /// Send the request, forward the worker's events, stop on `finished`, an error, the worker's
    /// death, a cancellation, or the client going away.
    async fn run_on(&self, lease: &mut Lease) -> Result<RunStatus, RunError> {
        let worker = lease.worker.as_mut().expect("a lease holds a worker");
        let request = WorkerRequest {
            id: self.request,
            spec: self.spec.clone(),
            limits: self.coordinator.inner.config.limits.clone(),
        };
        tokio::select! {
            result = worker.serve(request, &self.tx) => result,
            reason = self.stopped() => Err(reason),
        }
    }

    fn timeout(&self) -> RunError {
        RunError::Timeout(self.coordinator.inner.config.run_timeout)
    }

    fn cancel_reason(&self) -> RunError {
        if self.coordinator.inner.shutdown.is_cancelled() {
            RunError::ShuttingDown
        } else {
            RunError::Cancelled
        }
    }

    fn record(&self, outcome: &Result<RunStatus, RunError>, elapsed: Duration) {
        let stats = &self.coordinator.inner.stats;
        let counters = &stats.outcomes;
        let counter = match outcome {
            Ok(RunStatus::Completed) => &counters.completed,
            Ok(RunStatus::LimitExceeded) => &counters.limit_exceeded,
            Ok(RunStatus::Failed) => &counters.failed,
            Ok(RunStatus::Cancelled) => &counters.cancelled,
            Err(RunError::Timeout(_)) => &counters.timeout,
            Err(RunError::WorkerDied) => &counters.worker_died,
            Err(RunError::Cancelled) | Err(RunError::ShuttingDown) => &counters.cancelled,
            Err(_) => &counters.error,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if outcome.is_ok() {
            stats.durations.observe(elapsed);
        }
    }
}

/// A worker taken from the pool together with its slot; it goes back (or is replaced) exactly once.
pub(super) struct Lease {
    coordinator: Coordinator,
    worker: Option<Worker>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    /// The worker finished cleanly: back to the pool.
    fn release(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.coordinator.park_after_run(worker);
        }
        self.permit.take();
    }

    /// The worker was killed, died or is in an unknown state: kill it and start a fresh one.
    async fn replace(&mut self) {
        if let Some(worker) = self.worker.take() {
            let pid = worker.pid;
            worker.kill().await;
            self.coordinator.busy_gone(pid);
        }
        self.coordinator
            .respawn_in_background(Refill::for_permit(self.permit.take()));
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Only reached when the job's future was dropped mid-run (a panic, or the runtime
        // stopping): the worker's state is unknown, so it is replaced.
        if let Some(worker) = self.worker.take() {
            tracing::warn!(pid = worker.pid, "worker dropped mid-run; replacing it");
            let coordinator = self.coordinator.clone();
            let permit = self.permit.take();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let pid = worker.pid;
                    worker.kill().await;
                    coordinator.busy_gone(pid);
                    coordinator.respawn_in_background(Refill::for_permit(permit));
                });
            }
        }
    }
}
