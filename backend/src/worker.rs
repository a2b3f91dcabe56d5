//! The worker loop of [`crate::protocol`]: prepare the images, announce `ready`, then run each
//! request read from stdin and write its events to stdout, one flushed JSON line each.
//! Single-threaded by design: the engine forks namespaces from this process. It exits when its
//! stdin closes (idle) or nobody reads its stdout (even mid-run): it never outlives its server.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use rootlab_shared::events::RunEvent;

use crate::config::EngineConfig;
use crate::engine;
use crate::protocol::{ErrorChain, WorkerMessage, WorkerRequest};
use crate::sandbox::{cgroup, sys};

pub fn main() -> ExitCode {
    // Whatever the server inherited without close-on-exec (from a supervisor, socket
    // activation, a shell) ends here: nothing the sandbox forks from this process can hold it.
    let _ = sys::close_from(3);
    let cfg = EngineConfig::from_env();
    if cfg.use_cgroups {
        cgroup::reap_stale(&cfg.cgroup_root);
    }
    let mut out = io::stdout().lock();
    let images = match engine::prepare(&cfg) {
        Ok(images) => images,
        Err(e) => {
            let error = ErrorChain::from_error(&e);
            let _ = send(&mut out, &WorkerMessage::Error { id: 0, error });
            return ExitCode::FAILURE;
        }
    };
    let ready = WorkerMessage::Ready {
        pid: std::process::id(),
        images: images.into_iter().map(|i| i.name).collect(),
    };
    if send(&mut out, &ready).is_err() {
        return ExitCode::FAILURE;
    }
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        if serve(&line, &cfg, &mut out).is_err() {
            // The coordinator is gone; nobody is listening.
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// One request: its events (or one error), then `idle` once its sandbox is gone.
fn serve(line: &str, cfg: &EngineConfig, out: &mut impl Write) -> io::Result<()> {
    let req: WorkerRequest = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => {
            let id = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("id").and_then(|i| i.as_u64()))
                .unwrap_or(0);
            let error = ErrorChain {
                message: format!("unreadable request: {e}"),
                source: None,
            };
            send(out, &WorkerMessage::Error { id, error })?;
            return send(out, &WorkerMessage::Idle { id });
        }
    };
    let mut write_err = None;
    let mut on_event = |event: RunEvent| {
        if write_err.is_none() {
            let msg = WorkerMessage::Event { id: req.id, event };
            write_err = send(out, &msg).err();
        }
    };
    // Once nobody reads this worker's stdout (its server is gone), the run and the worker end:
    // the write end of a pipe reports an error as soon as its last reader closes.
    let stdout = Some(1);
    let result = engine::run_watched(&req.spec, &req.limits, cfg, stdout, &mut on_event);
    if let Some(e) = write_err {
        return Err(e);
    }
    if let Err(engine::EngineError::Abandoned) = result {
        return Err(io::Error::from(io::ErrorKind::BrokenPipe));
    }
    if let Err(e) = result {
        let error = ErrorChain::from_error(&e);
        send(out, &WorkerMessage::Error { id: req.id, error })?;
    }
    send(out, &WorkerMessage::Idle { id: req.id })
}

fn send(out: &mut impl Write, msg: &WorkerMessage) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}
