//! The server side of the sandbox: a pool of long-lived `rootlab-worker` processes, a bounded
//! queue in front of them, and the life cycle of each run (queue, run, cancel, time out, respawn).
//!
//! The server never forks itself per experiment: each worker is a small single-threaded process
//! that forks the sandbox. A worker serves one request at a time. Cancelling a run (client gone,
//! `DELETE`, timeout, shutdown) kills its worker, whose sandbox dies with it (parent-death signal
//! and pid namespace), and a fresh worker takes its place.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::RunStatus;
use rootlab_shared::{Limits, Spec};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::CancellationToken;

use crate::protocol::{WorkerMessage, WorkerRequest};

/// How long a fresh worker may take to build its images and say `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between attempts to start a worker that keeps failing, so a broken binary does not spin.
const RESPAWN_BACKOFF: Duration = Duration::from_millis(500);
/// Events buffered per run before the worker side waits for the client to read.
const EVENT_BUFFER: usize = 64;
/// The longest line a worker may send (a `finished` event carries the whole result, which the
/// worker bounds to about 64 MiB).
const MAX_WORKER_LINE: usize = 96 << 20;
/// The variables a worker starts with; nothing else of the server's environment (which may hold
/// a deployment's secrets) reaches it, let alone a sandbox.
const WORKER_ENV: [&str; 7] = [
    "PATH",
    "RUST_LOG",
    "ROOTLAB_STATE_DIR",
    "ROOTLAB_SANDBOX_UID",
    "ROOTLAB_SANDBOX_GID",
    "ROOTLAB_NO_CGROUPS",
    "ROOTLAB_EXTRA_TOOLS",
];

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

/// What a run sends to whoever waits for it: progress events, then either
/// `Event(RunEvent::Finished)` or one `Failed`.
#[derive(Debug)]
pub enum RunUpdate {
    Event(RunEvent),
    Failed(RunError),
}

/// An accepted run: its id (for `cancel`) and its updates. Dropping the receiver cancels it.
pub struct RunHandle {
    pub id: u64,
    pub updates: mpsc::Receiver<RunUpdate>,
}

/// What the sandbox told us when a worker came up, for `/healthz`.
#[derive(Debug, Clone, Default)]
pub struct WorkerInfo {
    pub images: Vec<String>,
    pub last_error: Option<String>,
}

/// Counters read by `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub running: AtomicUsize,
    pub running_max: AtomicUsize,
    pub waiting: AtomicUsize,
    pub alive: AtomicUsize,
    pub restarts: AtomicU64,
    pub rejected_busy: AtomicU64,
    pub outcomes: OutcomeCounters,
    pub durations: Histogram,
}

/// Runs by how they ended.
#[derive(Debug, Default)]
pub struct OutcomeCounters {
    pub completed: AtomicU64,
    pub limit_exceeded: AtomicU64,
    pub failed: AtomicU64,
    pub cancelled: AtomicU64,
    pub timeout: AtomicU64,
    pub worker_died: AtomicU64,
    pub error: AtomicU64,
}

impl OutcomeCounters {
    /// `(label, count)` pairs in a fixed order.
    pub fn snapshot(&self) -> [(&'static str, u64); 7] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("completed", get(&self.completed)),
            ("limit_exceeded", get(&self.limit_exceeded)),
            ("failed", get(&self.failed)),
            ("cancelled", get(&self.cancelled)),
            ("timeout", get(&self.timeout)),
            ("worker_died", get(&self.worker_died)),
            ("error", get(&self.error)),
        ]
    }
}

/// Upper bounds (seconds) of the run-duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// A Prometheus-style cumulative histogram of run durations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in DURATION_BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket, total count, and sum in seconds.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let buckets = DURATION_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, self.count.load(Ordering::Relaxed), sum)
    }
}

/// The pool. Cheap to clone.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

struct Inner {
    config: PoolConfig,
    /// One permit per worker that exists (idle or busy); a permit is given back only once its
    /// worker is idle again or has been replaced, so holding one guarantees an idle worker.
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Worker>>,
    runs: Mutex<HashMap<u64, CancellationToken>>,
    next_id: AtomicU64,
    /// Replacement workers being started; shutdown waits for them.
    respawning: AtomicUsize,
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
            idle: Mutex::new(Vec::new()),
            runs: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            respawning: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
            closing: AtomicBool::new(false),
            info: Mutex::new(WorkerInfo::default()),
            stats: PoolStats::default(),
            config,
        });
        let coordinator = Coordinator { inner };
        let starts = (0..coordinator.inner.config.size).map(|_| coordinator.try_add_worker());
        let failed = futures_util::future::join_all(starts)
            .await
            .into_iter()
            .filter(|ok| !ok)
            .count();
        for _ in 0..failed {
            coordinator.respawn_in_background(None);
        }
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
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = self.inner.shutdown.child_token();
        self.inner.runs.lock().unwrap().insert(id, cancel.clone());
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let job = Job {
            coordinator: self.clone(),
            id,
            spec,
            tx,
            cancel,
            deadline: tokio::time::Instant::now() + self.inner.config.run_timeout,
        };
        tokio::spawn(job.drive(permit, position));
        Ok(RunHandle { id, updates: rx })
    }

    /// Cancel run `id`; false when no such run is in progress.
    pub fn cancel(&self, id: u64) -> bool {
        match self.inner.runs.lock().unwrap().get(&id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
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
        while self.in_progress() > 0 || self.inner.respawning.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let idle: Vec<Worker> = std::mem::take(&mut *self.inner.idle.lock().unwrap());
        for worker in idle {
            worker.kill().await;
            self.inner.stats.alive.fetch_sub(1, Ordering::SeqCst);
        }
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

    /// Start one worker and add it to the pool; false when it did not come up.
    async fn try_add_worker(&self) -> bool {
        match Worker::spawn(&self.inner.config.worker).await {
            Ok((worker, images)) => {
                let mut info = self.inner.info.lock().unwrap();
                info.images = images;
                info.last_error = None;
                drop(info);
                self.put_idle(worker);
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

    fn put_idle(&self, worker: Worker) {
        self.inner.stats.alive.fetch_add(1, Ordering::SeqCst);
        self.inner.idle.lock().unwrap().push(worker);
    }

    fn take_idle(&self) -> Option<Worker> {
        let worker = self.inner.idle.lock().unwrap().pop()?;
        self.inner.stats.alive.fetch_sub(1, Ordering::SeqCst);
        Some(worker)
    }

    /// Replace a worker that was killed or died. `permit` (the dead worker's slot) is given back
    /// when the new worker is idle, so the pool never counts a slot without a worker behind it.
    fn respawn_in_background(&self, permit: Option<OwnedSemaphorePermit>) {
        let coordinator = self.clone();
        let inner = &coordinator.inner;
        inner.stats.restarts.fetch_add(1, Ordering::Relaxed);
        inner.respawning.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            coordinator.respawn(permit).await;
            coordinator.inner.respawning.fetch_sub(1, Ordering::SeqCst);
        });
    }

    async fn respawn(&self, permit: Option<OwnedSemaphorePermit>) {
        let inner = &self.inner;
        while !inner.shutdown.is_cancelled() {
            match Worker::spawn(&inner.config.worker).await {
                // Shutdown began while it was starting: it must not outlive the pool.
                Ok((worker, _)) if inner.shutdown.is_cancelled() => return worker.kill().await,
                Ok((worker, _)) => {
                    inner.info.lock().unwrap().last_error = None;
                    self.put_idle(worker);
                    match permit {
                        Some(permit) => drop(permit),
                        None => inner.slots.add_permits(1),
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

/// One run, from the queue to its last update.
struct Job {
    coordinator: Coordinator,
    id: u64,
    spec: Spec,
    tx: mpsc::Sender<RunUpdate>,
    cancel: CancellationToken,
    /// The server-side deadline, queueing included.
    deadline: tokio::time::Instant,
}

impl Job {
    async fn drive(self, permit: Option<OwnedSemaphorePermit>, position: Option<usize>) {
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
        let Some(worker) = self.coordinator.take_idle() else {
            // Cannot happen while permits track idle workers; refuse rather than hang.
            drop(permit);
            if self.coordinator.is_closing() {
                return Err(RunError::ShuttingDown);
            }
            return Err(RunError::NoWorker(
                "no idle worker behind a free slot".into(),
            ));
        };
        let mut lease = Lease {
            coordinator: self.coordinator.clone(),
            worker: Some(worker),
            permit: Some(permit),
        };
        let stats = &self.coordinator.inner.stats;
        let running = stats.running.fetch_add(1, Ordering::SeqCst) + 1;
        stats.running_max.fetch_max(running, Ordering::SeqCst);
        let result = self.run_on(&mut lease).await;
        stats.running.fetch_sub(1, Ordering::SeqCst);
        match &result {
            Ok(_) | Err(RunError::Worker(_)) => lease.release(),
            Err(_) => lease.replace().await,
        }
        result
    }

    async fn wait_for_slot(&self, position: usize) -> Result<OwnedSemaphorePermit, RunError> {
        let queued = RunUpdate::Event(RunEvent::Queued { position });
        if self.tx.send(queued).await.is_err() {
            return Err(RunError::Cancelled);
        }
        let slots = self.coordinator.inner.slots.clone();
        tokio::select! {
            permit = slots.acquire_owned() => permit.map_err(|_| RunError::ShuttingDown),
            _ = self.cancel.cancelled() => Err(self.cancel_reason()),
            _ = self.tx.closed() => Err(RunError::Cancelled),
            _ = tokio::time::sleep_until(self.deadline) => Err(self.timeout()),
        }
    }

    /// Send the request, forward the worker's events, stop on `finished`, an error, the worker's
    /// death, a cancellation, or the client going away.
    async fn run_on(&self, lease: &mut Lease) -> Result<RunStatus, RunError> {
        let worker = lease.worker.as_mut().expect("a lease holds a worker");
        let request = WorkerRequest {
            id: self.id,
            spec: self.spec.clone(),
            limits: self.coordinator.inner.config.limits.clone(),
        };
        tokio::select! {
            result = worker.serve(request, &self.tx) => result,
            _ = self.cancel.cancelled() => Err(self.cancel_reason()),
            _ = self.tx.closed() => Err(RunError::Cancelled),
            _ = tokio::time::sleep_until(self.deadline) => Err(self.timeout()),
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
struct Lease {
    coordinator: Coordinator,
    worker: Option<Worker>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    /// The worker finished cleanly: back to the pool.
    fn release(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.coordinator.put_idle(worker);
        }
        self.permit.take();
    }

    /// The worker was killed, died or is in an unknown state: kill it and start a fresh one.
    async fn replace(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.kill().await;
        }
        self.coordinator.respawn_in_background(self.permit.take());
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
                    worker.kill().await;
                    coordinator.respawn_in_background(permit);
                });
            }
        }
    }
}

/// One `rootlab-worker` process.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: FramedRead<ChildStdout, LinesCodec>,
    pid: u32,
}

impl Worker {
    /// Start the process and wait for its `ready` message.
    async fn spawn(path: &PathBuf) -> Result<(Worker, Vec<String>), String> {
        let mut cmd = Command::new(path);
        // The state dir as resolved here (its rootless default depends on HOME, not passed on).
        let state_dir = crate::config::EngineConfig::from_env().state_dir;
        cmd.env_clear()
            .envs(
                WORKER_ENV
                    .iter()
                    .filter_map(|k| Some((k, std::env::var_os(k)?))),
            )
            .env("ROOTLAB_STATE_DIR", state_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C at the server's terminal reaches the server, which
            // stops its workers in order. The worker exits when its stdin closes.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let codec = LinesCodec::new_with_max_length(MAX_WORKER_LINE);
        let stdout = FramedRead::new(child.stdout.take().expect("piped stdout"), codec);
        let pid = child.id().unwrap_or(0);
        let mut worker = Worker {
            child,
            stdin,
            stdout,
            pid,
        };
        match tokio::time::timeout(READY_TIMEOUT, worker.next_message()).await {
            Ok(Ok(WorkerMessage::Ready { images, .. })) => {
                tracing::info!(pid = worker.pid, "worker ready");
                Ok((worker, images))
            }
            Ok(Ok(other)) => {
                worker.kill().await;
                Err(format!("worker spoke before it was ready: {other:?}"))
            }
            Ok(Err(err)) => {
                worker.kill().await;
                Err(format!("worker failed to start: {err}"))
            }
            Err(_) => {
                worker.kill().await;
                Err(format!("worker not ready after {READY_TIMEOUT:?}"))
            }
        }
    }

    async fn next_message(&mut self) -> Result<WorkerMessage, String> {
        loop {
            let Some(line) = self.stdout.next().await else {
                return Err("the worker closed its output (it exited)".into());
            };
            let line = line.map_err(|e| e.to_string())?;
            if line.trim().is_empty() {
                continue;
            }
            return serde_json::from_str(&line)
                .map_err(|e| format!("unreadable worker message ({e}): {line:.200}"));
        }
    }

    /// Run one request to its end, forwarding events to `tx`.
    async fn serve(
        &mut self,
        request: WorkerRequest,
        tx: &mpsc::Sender<RunUpdate>,
    ) -> Result<RunStatus, RunError> {
        let id = request.id;
        let mut line = serde_json::to_vec(&request).map_err(|e| RunError::Worker(e.to_string()))?;
        line.push(b'\n');
        if self.stdin.write_all(&line).await.is_err() || self.stdin.flush().await.is_err() {
            return Err(RunError::WorkerDied);
        }
        loop {
            let message = self.next_message().await.map_err(|err| {
                tracing::warn!(pid = self.pid, "worker lost mid-run: {err}");
                RunError::WorkerDied
            })?;
            match message {
                WorkerMessage::Event { id: got, event } if got == id => {
                    let finished = finished_status(&event);
                    if tx.send(RunUpdate::Event(event)).await.is_err() {
                        return Err(RunError::Cancelled);
                    }
                    if let Some(status) = finished {
                        return Ok(status);
                    }
                }
                WorkerMessage::Error { id: got, error } if got == id => {
                    return Err(RunError::Worker(error.to_string()));
                }
                // An earlier request's sandbox is gone (this one's idle comes after its end).
                WorkerMessage::Idle { .. } => continue,
                other => {
                    tracing::warn!(pid = self.pid, "unexpected worker message: {other:?}");
                    return Err(RunError::WorkerDied);
                }
            }
        }
    }

    /// SIGKILL the worker and reap it (its sandbox dies with it).
    async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn finished_status(event: &RunEvent) -> Option<RunStatus> {
    match event {
        RunEvent::Finished { result } => Some(result.status),
        _ => None,
    }
}
