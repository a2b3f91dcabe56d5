//! Engine benchmark: seed-tmpfs and seed-union run N times each through ONE long-lived
//! `rootlab-worker` (as the server uses it), against a bubblewrap sandbox doing comparable
//! kernel work (`--unshare-all`, read-only root from the same tools image, tmpfs /tmp, proc,
//! dev, then `cat /proc/self/mountinfo; ls -la /tmp`), measured in the same run.
//!
//! `cargo bench -p rootlab --bench engine` (release profile). `ROOTLAB_BENCH_N` sets N (default 300).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rootlab::config::EngineConfig;
use rootlab::images;
use rootlab::protocol::{WorkerMessage, WorkerRequest};
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::RunStatus;
use rootlab_shared::spec::ImageName;
use rootlab_shared::{presets, Limits, Spec};

const WARMUP: usize = 10;

fn main() {
    // `cargo bench` passes --bench; under `cargo test --benches` only check that it works.
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("ROOTLAB_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 300 } else { 3 });
    let cfg = EngineConfig::from_env();
    let image = images::ensure(&cfg, ImageName::Tools).expect("tools image");
    println!("rootlab engine benchmark: {n} runs each (+{WARMUP} warm-up), one worker process");
    println!("{}", environment());
    let mut worker = Worker::start();
    let mut rows = Vec::new();
    for id in ["seed-tmpfs", "seed-union"] {
        let spec = presets::get(id).expect("preset").spec;
        let (wall, engine) = worker.measure(&spec, n);
        rows.push((format!("rootlab {id} (request -> finished)"), wall));
        rows.push((format!("rootlab {id} (engine duration_us)"), engine));
    }
    worker.stop();
    let bwrap = measure_bwrap(&image.dir, n);
    println!();
    println!(
        "{:<48} {:>9} {:>9} {:>9} {:>14}",
        "experiment", "p50 ms", "p99 ms", "mean ms", "p50 vs bwrap"
    );
    let base = percentile(&bwrap, 50.0);
    for (name, samples) in rows
        .iter()
        .chain([&("bwrap baseline (spawn -> exit)".to_string(), bwrap.clone())])
    {
        let p50 = percentile(samples, 50.0);
        println!(
            "{name:<48} {:>9.2} {:>9.2} {:>9.2} {:>13.2}x",
            ms(p50),
            ms(percentile(samples, 99.0)),
            ms(mean(samples)),
            p50.as_secs_f64() / base.as_secs_f64()
        );
    }
}

fn environment() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let bwrap = Command::new("bwrap").arg("--version").output();
    let bwrap = bwrap.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    format!(
        "kernel {} · {cpus} cpus · {}",
        kernel.trim(),
        bwrap.unwrap_or_else(|_| "bwrap missing".into())
    )
}

/// One `rootlab-worker` speaking the JSON-lines protocol.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Worker {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rootlab-worker"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn rootlab-worker");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("worker stdout"));
        let mut worker = Worker {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        match worker.read() {
            WorkerMessage::Ready { .. } => worker,
            other => panic!("worker did not get ready: {other:?}"),
        }
    }

    fn read(&mut self) -> WorkerMessage {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).expect("read worker");
        assert!(n > 0, "the worker exited");
        serde_json::from_str(&line).expect("worker message")
    }

    /// One request; returns the wall time and the engine's own duration.
    fn run(&mut self, spec: &Spec) -> (Duration, Duration) {
        let id = self.next_id;
        self.next_id += 1;
        let request = WorkerRequest {
            id,
            spec: spec.clone(),
            limits: Limits::default(),
        };
        let mut line = serde_json::to_string(&request).expect("request JSON");
        line.push('\n');
        let clock = Instant::now();
        let stdin = self.stdin.as_mut().expect("worker stdin");
        stdin.write_all(line.as_bytes()).expect("write worker");
        stdin.flush().expect("flush worker");
        loop {
            match self.read() {
                WorkerMessage::Event {
                    event: RunEvent::Finished { result },
                    ..
                } => {
                    let wall = clock.elapsed();
                    assert_eq!(result.status, RunStatus::Completed, "{:?}", result.message);
                    return (wall, Duration::from_micros(result.duration_us));
                }
                WorkerMessage::Error { error, .. } => panic!("run failed: {error}"),
                _ => {}
            }
        }
    }

    fn measure(&mut self, spec: &Spec, n: usize) -> (Vec<Duration>, Vec<Duration>) {
        for _ in 0..WARMUP {
            self.run(spec);
        }
        (0..n).map(|_| self.run(spec)).unzip()
    }

    /// Closing stdin ends the worker's loop; wait so no process is left behind.
    fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn measure_bwrap(image_dir: &Path, n: usize) -> Vec<Duration> {
    let dir = image_dir.to_str().expect("UTF-8 image path");
    let args = [
        "--unshare-all",
        "--ro-bind",
        dir,
        "/",
        "--tmpfs",
        "/tmp",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "sh",
        "-c",
        "cat /proc/self/mountinfo; ls -la /tmp",
    ];
    let once = || {
        let clock = Instant::now();
        let out = Command::new("bwrap")
            .args(args)
            .output()
            .expect("run bwrap");
        assert!(
            out.status.success(),
            "bwrap: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        clock.elapsed()
    };
    for _ in 0..WARMUP {
        once();
    }
    (0..n).map(|_| once()).collect()
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len().max(1) as u32
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
