//! The server side of the sandbox: a pool of long-lived `rootlab-worker` processes, a bounded
//! queue in front of them, and the life cycle of each run (queue, run, cancel, time out, respawn).
//!
//! The server never forks itself per experiment: each worker is a small single-threaded process
//! that forks the sandbox. A worker serves one request at a time. Cancelling a run (client gone,
//! `DELETE`, timeout, shutdown) kills its worker, whose sandbox dies with it (parent-death signal
//! and pid namespace), and a fresh worker takes its place. An idle worker is watched: if it dies
//! it leaves the pool at once and is replaced (`workers.rs`).
//!
//! Files: `job.rs` (one run), `workers.rs` (starting, parking, watching and replacing workers),
//! `process.rs` (one worker process), `ids.rs` (run ids and tokens), `stats.rs` (counters).

mod ids;
mod job;
mod process;
mod stats;
mod workers;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rootlab_shared::events::RunEvent;
use rootlab_shared::{Limits, Spec};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

pub use ids::well_formed as is_well_formed_run_id;
pub use stats::{Histogram, OutcomeCounters, PoolStats, DURATION_BUCKETS};

use job::Job;
use workers::Workers;

/// Events buffered per run before the worker side waits for the client to read.
const EVENT_BUFFER: usize = 64;

/// What the pool is made of.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// The `rootlab-worker` executable.
    pub worker: PathBuf,
    /// Worker processes, i.e. experiments running at once.
    pub size: usize,
    /// Requests that may wait for a free worker.
    pub queue: usize,
    /// Limits every experiment runs under.
    pub limits: Limits,
    /// Server-side deadline of one run, queueing included.
    pub run_timeout: Duration,
    /// Workers keep what `commit` steps make as images (`--allow-commit`).
    pub allow_commit: bool,
}

/// Why a run produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("the worker process died during the run")]
    WorkerDied,
    #[error("the run took longer than the server's deadline of {0:?}")]
    Timeout(Duration),
    #[error("the run was cancelled")]
    Cancelled,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("the worker could not run the experiment: {0}")]
    Worker(String),
    #[error("no worker could be started: {0}")]
    NoWorker(String),
}

/// Why a run was not even accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("every worker is busy and the queue is full")]
    Busy {
        /// Seconds until the queue has likely moved on, for `Retry-After`.
        retry_after: u64,
    },
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Why `cancel` did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    #[error("no such run is in progress")]
    NotFound,
    #[error("the cancel token does not match the run")]
    WrongToken,
}

/// What a run sends to whoever waits for it: progress events, then either
/// `Event(RunEvent::Finished)` or one `Failed`.
#[derive(Debug)]
pub enum RunUpdate {
    Event(RunEvent),
    Failed(RunError),
}

/// An accepted run: its id and the token that cancels it (both random), and its updates.
/// Dropping the receiver cancels it.
pub struct RunHandle {
    pub id: String,
    pub token: String,
    pub updates: mpsc::Receiver<RunUpdate>,
}

/// What the sandbox told us when a worker came up, and the last worker failure, for `/healthz`.
#[derive(Debug, Clone, Default)]
pub struct WorkerInfo {
    pub images: Vec<String>,
    /// The last worker failure since the server started (a failed start, or a worker lost while
    /// idle), if any.
    pub last_error: Option<String>,
}

/// Worker processes by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerPids {
    pub idle: Vec<u32>,
    pub busy: Vec<u32>,
}

/// A run in progress, as `cancel` sees it.
struct RunEntry {
    token: String,
    cancel: CancellationToken,
}

/// The pool. Cheap to clone.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

struct Inner {
    config: PoolConfig,
    /// One permit per worker that exists (idle or busy) and is not owed to a job already; a
    /// permit is given back only once its worker is idle again or has been replaced.
    slots: Arc<Semaphore>,
    /// The workers, idle (parked under a watch) and busy; every move between the two happens
    /// under this lock, so a snapshot never misses or doubles a worker.
    workers: Mutex<Workers>,
    /// Told whenever a worker is parked, for a job that holds a slot whose worker was lost.
    parked: Notify,
    runs: Mutex<HashMap<String, RunEntry>>,
    /// The worker protocol's request ids.
    next_request: AtomicU64,
    next_park: AtomicU64,
    shutdown: CancellationToken,
    closing: AtomicBool,
    info: Mutex<WorkerInfo>,
    stats: PoolStats,
}

impl Coordinator {
    /// Start `config.size` workers and wait until each is ready (or has failed to start; those
    /// are retried in the background and `/healthz` says the pool is degraded).
    pub async fn start(config: PoolConfig) -> Coordinator {
        let inner = Arc::new(Inner {
            slots: Arc::new(Semaphore::new(0)),
            workers: Mutex::default(),
            parked: Notify::new(),
            runs: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            next_park: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            closing: AtomicBool::new(false),
            info: Mutex::new(WorkerInfo::default()),
            stats: PoolStats::default(),
            config,
        });
        let coordinator = Coordinator { inner };
        coordinator.start_workers().await;
        coordinator
    }

    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    pub fn stats(&self) -> &PoolStats {
        &self.inner.stats
    }

    pub fn info(&self) -> WorkerInfo {
        self.inner.info.lock().unwrap().clone()
    }

    pub fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// Pids of the worker processes, idle and busy (sorted), taken at one instant.
    pub fn worker_pids(&self) -> WorkerPids {
        let workers = self.inner.workers.lock().unwrap();
        let mut idle: Vec<u32> = workers.parked.iter().map(|p| p.pid).collect();
        let mut busy = workers.busy.clone();
        drop(workers);
        idle.sort_unstable();
        busy.sort_unstable();
        WorkerPids { idle, busy }
    }

    /// Accept a run, or refuse it at once when the pool and its queue are full.
    pub fn submit(&self, spec: Spec) -> Result<RunHandle, SubmitError> {
        if self.is_closing() {
            return Err(SubmitError::ShuttingDown);
        }
        let stats = &self.inner.stats;
        let (permit, position) = match self.inner.slots.clone().try_acquire_owned() {
            Ok(permit) => (Some(permit), None),
            Err(_) => {
                let position = stats.waiting.fetch_add(1, Ordering::SeqCst);
                if position >= self.inner.config.queue {
                    stats.waiting.fetch_sub(1, Ordering::SeqCst);
                    stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
                    return Err(SubmitError::Busy {
                        retry_after: self.queue_drain_secs(),
                    });
                }
                (None, Some(position))
            }
        };
        let id = ids::random_hex();
        let token = ids::random_hex();
        let cancel = self.inner.shutdown.child_token();
        let entry = RunEntry {
            token: token.clone(),
            cancel: cancel.clone(),
        };
        self.inner.runs.lock().unwrap().insert(id.clone(), entry);
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let job = Job {
            coordinator: self.clone(),
            id: id.clone(),
            request: self.inner.next_request.fetch_add(1, Ordering::Relaxed),
            spec,
            tx,
            cancel,
            deadline: tokio::time::Instant::now() + self.inner.config.run_timeout,
        };
        tokio::spawn(job.drive(permit, position));
        Ok(RunHandle {
            id,
            token,
            updates: rx,
        })
    }

    /// Cancel run `id` for whoever holds its `token`.
    pub fn cancel(&self, id: &str, token: &str) -> Result<(), CancelError> {
        let runs = self.inner.runs.lock().unwrap();
        let entry = runs.get(id).ok_or(CancelError::NotFound)?;
        if !ids::same_token(token, &entry.token) {
            return Err(CancelError::WrongToken);
        }
        entry.cancel.cancel();
        Ok(())
    }

    /// Stop accepting runs, let running ones finish for up to `grace`, cancel the rest, and kill
    /// every worker.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.closing.store(true, Ordering::SeqCst);
        // Every queued request is answered `shutting_down` now; running ones get the grace.
        self.inner.slots.close();
        let deadline = Instant::now() + grace;
        while self.in_progress() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.inner.shutdown.cancel();
        let stats = &self.inner.stats;
        while self.in_progress() > 0 || stats.starting.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.stop_idle_workers().await;
    }

    /// How long the runs queued now take to start, from the mean run time so far (at least 1 s).
    fn queue_drain_secs(&self) -> u64 {
        let (_, count, sum) = self.inner.stats.durations.snapshot();
        let mean = if count == 0 { 1.0 } else { sum / count as f64 };
        let rounds = (self.inner.config.queue / self.inner.config.size.max(1)) as f64 + 1.0;
        ((rounds * mean).ceil() as u64).clamp(1, 60)
    }

    fn in_progress(&self) -> usize {
        self.inner.runs.lock().unwrap().len()
    }
}
