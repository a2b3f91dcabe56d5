//! One `rootlab-worker` process: started with a minimal environment, spoken to in JSON lines,
//! watched while idle (its exit or EOF noticed at once), and killed when its state is unknown.

use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::RunStatus;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec};

use super::{PoolConfig, RunError, RunUpdate};
use crate::protocol::{WorkerMessage, WorkerRequest};

/// How long a fresh worker may take to build its images and say `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
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

/// One `rootlab-worker` process.
pub(super) struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: FramedRead<ChildStdout, LinesCodec>,
    pub(super) pid: u32,
}

impl Worker {
    /// Start the process and wait for its `ready` message.
    pub(super) async fn spawn(config: &PoolConfig) -> Result<(Worker, Vec<String>), String> {
        let path = &config.worker;
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
            .env(
                "ROOTLAB_ALLOW_COMMIT",
                if config.allow_commit { "1" } else { "0" },
            )
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
    pub(super) async fn serve(
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

    /// Wait while idle until `wake` (the worker is handed back) or the worker is lost: it exits
    /// (SIGCHLD), closes its output (EOF) or says something other than `idle`. A loss is checked
    /// first, so a worker that died is never handed out when both happened.
    pub(super) async fn watch_idle(
        mut self,
        mut wake: oneshot::Receiver<()>,
    ) -> Result<Worker, (Worker, String)> {
        let pid = self.pid;
        loop {
            tokio::select! {
                biased;
                status = self.child.wait() => {
                    let how = match status {
                        Ok(status) => status.to_string(),
                        Err(err) => err.to_string(),
                    };
                    return Err((self, format!("worker {pid} exited while idle ({how})")));
                }
                line = self.stdout.next() => match idle_line(line) {
                    Ok(()) => continue,
                    Err(why) => return Err((self, format!("worker {pid} {why} while idle"))),
                },
                _ = &mut wake => return Ok(self),
            }
        }
    }

    /// SIGKILL the worker and reap it (its sandbox dies with it).
    pub(super) async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// A line an idle worker may send: blank, or the `idle` that follows its last run's result.
fn idle_line(
    line: Option<Result<String, tokio_util::codec::LinesCodecError>>,
) -> Result<(), String> {
    let line = match line {
        None => return Err("closed its output".into()),
        Some(Err(err)) => return Err(format!("sent an unreadable line ({err})")),
        Some(Ok(line)) => line,
    };
    if line.trim().is_empty() {
        return Ok(());
    }
    match serde_json::from_str(&line) {
        Ok(WorkerMessage::Idle { .. }) => Ok(()),
        _ => Err(format!("sent an unexpected message ({line:.100})")),
    }
}

fn finished_status(event: &RunEvent) -> Option<RunStatus> {
    match event {
        RunEvent::Finished { result } => Some(result.status),
        _ => None,
    }
}
