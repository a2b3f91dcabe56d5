//! Engine benchmark: seed-tmpfs and seed-union run N times each through ONE long-lived
//! `rootlab-worker` (as the server uses it), against a bubblewrap sandbox doing comparable
//! kernel work (`--unshare-all`, read-only root from the same tools image, tmpfs /tmp, proc,
//! dev, then the programs seed-tmpfs runs: `ls -A /tmp; mount -l | grep tmpfs`), measured in the
//! same run.
//!
//! A second pair separates the sandboxes' own kernel work from the programs they run:
//! seed-tmpfs without its two `run` steps against the same bwrap command running `true`.
//! Runs are interleaved (one of each per round) so that background load hits every row alike.
//!
//! `cargo bench -p rootlab --bench engine` (release profile). `ROOTLAB_BENCH_N` sets N (default 300).
//! `ROOTLAB_BENCH_BASELINE_WORKER=<path>` adds the two rootlab rows again, run by that worker
//! binary (e.g. a build of an earlier commit), interleaved in the same rounds: a change's cost
//! measured against the code before it on the same machine at the same time.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rootlab::config::EngineConfig;
use rootlab::images;
use rootlab::protocol::{WorkerMessage, WorkerRequest};
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::RunStatus;
use rootlab_shared::spec::Step;
use rootlab_shared::{presets, Limits, Spec};

const WARMUP: usize = 10;
/// What the bwrap baseline runs inside: the programs seed-tmpfs runs (four execs either way).
const BWRAP_WORK: &[&str] = &["sh", "-c", "ls -A /tmp; mount -l | grep tmpfs"];

/// One row of the table: how to run it once, and what was measured.
struct Row {
    name: String,
    samples: Vec<Duration>,
    /// The engine's own `duration_us`, for rootlab rows.
    engine: Vec<Duration>,
    /// The bwrap row this one is compared with.
    baseline: usize,
}

enum Subject {
    Rootlab(Spec),
    /// The same, by the baseline worker.
    Baseline(Spec),
    Bwrap(&'static [&'static str]),
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test --benches` only check that it works.
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("ROOTLAB_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 300 } else { 3 });
    let cfg = EngineConfig::from_env();
    let image = images::ensure(&cfg, images::Builtin::Tools).expect("tools image");
    println!(
        "rootlab engine benchmark: {n} interleaved rounds (+{WARMUP} warm-up), one worker process"
    );
    println!("{}", environment());
    // Without expectations: an earlier build's worker (the baseline rows) does not know them,
    // and grading is microseconds of pure logic after the run.
    let preset = |id: &str| {
        let mut spec = presets::get(id).expect("preset").spec;
        spec.expect.clear();
        spec
    };
    let mut without_programs = preset("seed-tmpfs");
    without_programs
        .steps
        .retain(|s| !matches!(s, Step::Run { .. }));
    let mut subjects = vec![
        (
            "bwrap: sh -c 'ls -A /tmp; mount -l | grep tmpfs'",
            Subject::Bwrap(BWRAP_WORK),
            0,
        ),
        (
            "rootlab seed-tmpfs",
            Subject::Rootlab(preset("seed-tmpfs")),
            0,
        ),
        (
            "rootlab seed-union",
            Subject::Rootlab(preset("seed-union")),
            0,
        ),
        (
            "bwrap: true (kernel work only)",
            Subject::Bwrap(&["true"]),
            3,
        ),
        (
            "rootlab seed-tmpfs minus its programs",
            Subject::Rootlab(without_programs),
            3,
        ),
    ];
    let baseline_worker = std::env::var_os("ROOTLAB_BENCH_BASELINE_WORKER");
    if baseline_worker.is_some() {
        subjects.push((
            "baseline worker: seed-tmpfs",
            Subject::Baseline(preset("seed-tmpfs")),
            0,
        ));
        subjects.push((
            "baseline worker: seed-tmpfs minus its programs",
            Subject::Baseline(subjects[4].1.spec().clone()),
            3,
        ));
    }
    let mut worker = Worker::start(Path::new(env!("CARGO_BIN_EXE_rootlab-worker")));
    let mut baseline = baseline_worker.map(|p| Worker::start(Path::new(&p)));
    let mut rows: Vec<Row> = subjects
        .iter()
        .map(|(name, _, baseline)| Row {
            name: name.to_string(),
            samples: vec![],
            engine: vec![],
            baseline: *baseline,
        })
        .collect();
    for round in 0..WARMUP + n {
        for (row, (_, subject, _)) in rows.iter_mut().zip(&subjects) {
            let (wall, engine) = match subject {
                Subject::Rootlab(spec) => worker.run(spec),
                Subject::Baseline(spec) => baseline.as_mut().expect("baseline worker").run(spec),
                Subject::Bwrap(work) => (bwrap_once(&image.dir, work), Duration::ZERO),
            };
            if round >= WARMUP {
                row.samples.push(wall);
                row.engine.push(engine);
            }
        }
    }
    worker.stop();
    if let Some(b) = baseline {
        b.stop();
    }
    print_table(&rows);
}

impl Subject {
    fn spec(&self) -> &Spec {
        match self {
            Subject::Rootlab(spec) | Subject::Baseline(spec) => spec,
            Subject::Bwrap(_) => panic!("not a rootlab row"),
        }
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<50} {:>8} {:>8} {:>8} {:>14} {:>10}",
        "experiment (request -> finished)",
        "p50 ms",
        "p99 ms",
        "mean ms",
        "engine p50 ms",
        "vs bwrap"
    );
    for row in rows {
        let p50 = percentile(&row.samples, 50.0);
        let base = percentile(&rows[row.baseline].samples, 50.0);
        let engine = if !row.name.starts_with("bwrap") {
            format!("{:.2}", ms(percentile(&row.engine, 50.0)))
        } else {
            "-".into()
        };
        println!(
            "{:<50} {:>8.2} {:>8.2} {:>8.2} {:>14} {:>9.2}x",
            row.name,
            ms(p50),
            ms(percentile(&row.samples, 99.0)),
            ms(mean(&row.samples)),
            engine,
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
    fn start(binary: &Path) -> Self {
        let mut child = Command::new(binary)
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

    /// Closing stdin ends the worker's loop; wait so no process is left behind.
    fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// One bubblewrap sandbox over the same image, running `work`; spawn to exit.
fn bwrap_once(image_dir: &Path, work: &[&str]) -> Duration {
    let dir = image_dir.to_str().expect("UTF-8 image path");
    let clock = Instant::now();
    let out = Command::new("bwrap")
        .args(["--unshare-all", "--ro-bind", dir, "/", "--tmpfs", "/tmp"])
        .args(["--proc", "/proc", "--dev", "/dev"])
        .args(work)
        .output()
        .expect("run bwrap");
    assert!(
        out.status.success(),
        "bwrap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    clock.elapsed()
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
