//! The pool's workers: started at once, parked while idle under a watch (a worker that exits or
//! goes silent is noticed when it happens, leaves the pool and is replaced at once), handed to
//! runs, and replaced after a kill.
//!
//! Slots: the semaphore holds one permit per idle worker not yet promised to a run. A worker lost
//! while idle takes its permit away if it is still free; if a run already holds it, that run
//! waits for the replacement instead (`Refill::Owed`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::task::JoinHandle;

use super::process::Worker;
use super::Coordinator;

/// Pause between attempts to start a worker that keeps failing, so a broken binary does not spin.
const RESPAWN_BACKOFF: Duration = Duration::from_millis(500);

/// The pool's workers by state.
#[derive(Default)]
pub(super) struct Workers {
    /// Idle, each watched by a task of its own.
    pub(super) parked: Vec<Parked>,
    /// Pids of the workers running a request.
    pub(super) busy: Vec<u32>,
}

/// An idle worker and the task watching it.
pub(super) struct Parked {
    key: u64,
    pub(super) pid: u32,
    wake: oneshot::Sender<()>,
    watch: JoinHandle<Option<Worker>>,
}

impl Parked {
    /// Stop watching and take the worker; `None` when it was lost meanwhile.
    async fn unpark(self) -> Option<Worker> {
        let _ = self.wake.send(());
        self.watch.await.ok().flatten()
    }
}

/// What a replacement does with the slot of the worker it replaces once it is up.
pub(super) enum Refill {
    /// Give back this permit (held by the run that killed the old worker).
    Release(OwnedSemaphorePermit),
    /// Add a permit: the old worker's was taken away.
    Add,
    /// Nothing: a run holds the old worker's permit and waits for a parked worker.
    Owed,
}

impl Refill {
    /// Give back `permit` if there is one, else add one.
    pub(super) fn for_permit(permit: Option<OwnedSemaphorePermit>) -> Refill {
        permit.map_or(Refill::Add, Refill::Release)
    }
}

impl Coordinator {
    /// Start every worker at once; those that fail are retried in the background.
    pub(super) async fn start_workers(&self) {
        let starts = (0..self.inner.config.size).map(|_| self.try_add_worker());
        let failed = futures_util::future::join_all(starts)
            .await
            .into_iter()
            .filter(|ok| !ok)
            .count();
        for _ in 0..failed {
            self.respawn_in_background(Refill::Add);
        }
    }

    /// Start one worker and add it to the pool; false when it did not come up.
    async fn try_add_worker(&self) -> bool {
        match Worker::spawn(&self.inner.config).await {
            Ok((worker, images)) => {
                self.inner.info.lock().unwrap().images = images;
                self.park(worker);
                self.inner.slots.add_permits(1);
                true
            }
            Err(err) => {
                tracing::error!("cannot start worker {:?}: {err}", self.inner.config.worker);
                self.inner.info.lock().unwrap().last_error = Some(err);
                false
            }
        }
    }

    /// Put a fresh idle worker in the pool under a watch.
    pub(super) fn park(&self, worker: Worker) {
        let mut workers = self.inner.workers.lock().unwrap();
        self.park_locked(&mut workers, worker);
        drop(workers);
        self.inner.parked.notify_one();
    }

    /// Put a worker back after its run: from busy to idle in one step.
    pub(super) fn park_after_run(&self, worker: Worker) {
        let mut workers = self.inner.workers.lock().unwrap();
        self.unbusy_locked(&mut workers, worker.pid);
        self.park_locked(&mut workers, worker);
        drop(workers);
        self.inner.parked.notify_one();
    }

    /// A busy worker was killed or found dead.
    pub(super) fn busy_gone(&self, pid: u32) {
        let mut workers = self.inner.workers.lock().unwrap();
        self.unbusy_locked(&mut workers, pid);
    }

    fn unbusy_locked(&self, workers: &mut Workers, pid: u32) {
        if let Some(at) = workers.busy.iter().position(|p| *p == pid) {
            workers.busy.swap_remove(at);
            self.inner.stats.running.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Start the watch while the lock is held, so that a loss noticed at once finds the entry.
    fn park_locked(&self, workers: &mut Workers, worker: Worker) {
        let key = self.inner.next_park.fetch_add(1, Ordering::Relaxed);
        let pid = worker.pid;
        let (wake, woken) = oneshot::channel();
        let coordinator = self.clone();
        let watch = tokio::spawn(async move {
            match worker.watch_idle(woken).await {
                Ok(worker) => Some(worker),
                Err((worker, why)) => {
                    coordinator.lost_while_idle(key, worker, why).await;
                    None
                }
            }
        });
        workers.parked.push(Parked {
            key,
            pid,
            wake,
            watch,
        });
        self.inner.stats.alive.fetch_add(1, Ordering::SeqCst);
    }

    /// A parked worker, counted busy from now on (it may turn out lost when unparked).
    fn pop_parked_for_run(&self) -> Option<Parked> {
        let mut workers = self.inner.workers.lock().unwrap();
        let parked = workers.parked.pop()?;
        workers.busy.push(parked.pid);
        let stats = &self.inner.stats;
        stats.alive.fetch_sub(1, Ordering::SeqCst);
        let running = stats.running.fetch_add(1, Ordering::SeqCst) + 1;
        stats.running_max.fetch_max(running, Ordering::SeqCst);
        Some(parked)
    }

    /// A live idle worker for a run that holds a slot. Waits (for a replacement) while none is
    /// parked, until `stop` says why not; a worker being handed over is never abandoned.
    pub(super) async fn take_idle<E>(
        &self,
        mut stop: Pin<&mut impl Future<Output = E>>,
    ) -> Result<Worker, E> {
        loop {
            let notified = self.inner.parked.notified();
            match self.pop_parked_for_run() {
                Some(parked) => {
                    let pid = parked.pid;
                    match parked.unpark().await {
                        Some(worker) => return Ok(worker),
                        // Lost as it was handed over: this run keeps the slot and waits.
                        None => {
                            self.busy_gone(pid);
                            self.respawn_in_background(Refill::Owed);
                        }
                    }
                }
                None => tokio::select! {
                    _ = notified => {}
                    reason = stop.as_mut() => return Err(reason),
                },
            }
        }
    }

    /// The watch of parked worker `key` saw it die or go silent.
    async fn lost_while_idle(&self, key: u64, worker: Worker, why: String) {
        worker.kill().await;
        tracing::warn!("{why}; replacing it");
        self.inner.stats.lost_idle.fetch_add(1, Ordering::Relaxed);
        self.inner.info.lock().unwrap().last_error = Some(why);
        let removed = {
            let mut workers = self.inner.workers.lock().unwrap();
            let at = workers.parked.iter().position(|p| p.key == key);
            let removed = at.map(|at| workers.parked.swap_remove(at));
            if removed.is_some() {
                self.inner.stats.alive.fetch_sub(1, Ordering::SeqCst);
            }
            removed
        };
        // Not found: a run is unparking it right now and replaces it itself.
        if removed.is_some() {
            let refill = match self.inner.slots.forget_permits(1) {
                1 => Refill::Add,
                _ => Refill::Owed,
            };
            self.respawn_in_background(refill);
        }
    }

    /// Kill every idle worker (at shutdown).
    pub(super) async fn stop_idle_workers(&self) {
        loop {
            let parked = self.inner.workers.lock().unwrap().parked.pop();
            let Some(parked) = parked else { break };
            self.inner.stats.alive.fetch_sub(1, Ordering::SeqCst);
            if let Some(worker) = parked.unpark().await {
                worker.kill().await;
            }
        }
    }

    /// Replace a worker that was killed or died; `refill` says what becomes of its slot.
    pub(super) fn respawn_in_background(&self, refill: Refill) {
        let coordinator = self.clone();
        let stats = &coordinator.inner.stats;
        stats.restarts.fetch_add(1, Ordering::Relaxed);
        stats.starting.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            coordinator.respawn(refill).await;
            let stats = &coordinator.inner.stats;
            stats.starting.fetch_sub(1, Ordering::SeqCst);
        });
    }

    async fn respawn(&self, refill: Refill) {
        let inner = &self.inner;
        while !inner.shutdown.is_cancelled() {
            match Worker::spawn(&inner.config).await {
                // Shutdown began while it was starting: it must not outlive the pool.
                Ok((worker, _)) if inner.shutdown.is_cancelled() => return worker.kill().await,
                Ok((worker, _)) => {
                    self.park(worker);
                    match refill {
                        Refill::Release(permit) => drop(permit),
                        Refill::Add => inner.slots.add_permits(1),
                        Refill::Owed => {}
                    }
                    return;
                }
                Err(err) => {
                    tracing::error!("cannot restart worker: {err}");
                    inner.info.lock().unwrap().last_error = Some(err);
                    tokio::select! {
                        _ = tokio::time::sleep(RESPAWN_BACKOFF) => {}
                        _ = inner.shutdown.cancelled() => {}
                    }
                }
            }
        }
    }
}
