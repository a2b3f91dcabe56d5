//! Image benchmark, two tables, each measured interleaved in one run:
//!
//! 1. A run from a stored image against the same run on the built-in `tools` tree: a container
//!    started from the image (`docker run` shape), `ls /` in it, a snapshot. The image is
//!    lesson 7's Debian (three layers, scripts/make-lesson-image.sh), so the overlay stacks three
//!    lowers where `tools` has one.
//! 2. Importing the same image's OCI archive into an empty store (verify every digest, unpack
//!    every layer once, whiteouts made overlayfs's way) against the field's tools doing the same
//!    job: `skopeo copy oci-archive:... oci:...` then `umoci unpack`.
//!
//! `cargo bench -p rootlab --bench images` (release). `ROOTLAB_BENCH_N` sets the rounds of table 1
//! (default 200) and `ROOTLAB_BENCH_IMPORTS` those of table 2 (default 5). The image tar is
//! `target/lesson-images/debian-lesson.tar` (`ROOTLAB_BENCH_IMAGE` to choose another).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rootlab::config::{EngineArgs, EngineConfig};
use rootlab::engine;
use rootlab::store::Store;
use rootlab_shared::result::RunStatus;
use rootlab_shared::{Limits, Spec};
use serde_json::json;

const WARMUP: usize = 5;

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds = env_number("ROOTLAB_BENCH_N", if benching { 200 } else { 2 });
    let imports = env_number("ROOTLAB_BENCH_IMPORTS", if benching { 5 } else { 1 });
    let tar = std::env::var_os("ROOTLAB_BENCH_IMAGE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lesson-images/debian-lesson.tar"),
        PathBuf::from,
    );
    if !tar.is_file() {
        println!(
            "images benchmark: skipped, no {} (scripts/make-lesson-image.sh makes it)",
            tar.display()
        );
        return;
    }
    let work = std::env::temp_dir().join(format!("rootlab-bench-images-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("a work dir");
    runs_table(&tar, &work, rounds);
    import_table(&tar, &work, imports);
    let _ = std::fs::remove_dir_all(&work);
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(state: &Path) -> EngineConfig {
    EngineConfig::from_args(&EngineArgs {
        state_dir: Some(state.to_path_buf()),
        ..Default::default()
    })
}

/// The same run from `image`: a container of it, `ls /` in it, a snapshot of its root.
fn spec(image: &str) -> Spec {
    serde_json::from_value(json!({
        "host": { "root_propagation": "private" },
        "steps": [
            { "op": "container", "name": "c", "image": image, "namespaces": ["pid"] },
            { "op": "run", "in": "c", "argv": ["ls", "/"] },
            { "op": "snapshot", "label": "s", "views": ["c"], "paths": ["/"], "depth": 1 }
        ]
    }))
    .expect("the benchmark's spec")
}

fn runs_table(tar: &Path, work: &Path, rounds: usize) {
    let cfg = config(&work.join("runs"));
    Store::open(&cfg)
        .and_then(|s| s.import(tar, Some("bench/debian:1")))
        .expect("importing the benchmark's image");
    let subjects = [
        ("tools (built-in, 1 layer)", spec("tools")),
        ("bench/debian:1 (stored, 3 layers)", spec("bench/debian:1")),
    ];
    let mut samples = vec![Vec::new(), Vec::new()];
    for round in 0..WARMUP + rounds {
        for (i, (_, spec)) in subjects.iter().enumerate() {
            let clock = Instant::now();
            let result = engine::run(spec, &Limits::default(), &cfg, &mut |_| {}).expect("a run");
            let wall = clock.elapsed();
            assert_eq!(result.status, RunStatus::Completed, "{:?}", result.message);
            if round >= WARMUP {
                samples[i].push(wall);
            }
        }
    }
    println!(
        "\nA container from an image, `ls /`, a snapshot: {rounds} interleaved rounds, in process"
    );
    println!("{:<36} {:>10} {:>10} {:>8}", "image", "p50", "p90", "ratio");
    let base = percentile(&samples[0], 50.0);
    for ((name, _), s) in subjects.iter().zip(&samples) {
        let p50 = percentile(s, 50.0);
        println!(
            "{name:<36} {:>8.2}ms {:>8.2}ms {:>8.3}",
            ms(p50),
            ms(percentile(s, 90.0)),
            ms(p50) / ms(base)
        );
    }
}

fn import_table(tar: &Path, work: &Path, rounds: usize) {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let state = work.join(format!("import-{round}"));
        let clock = Instant::now();
        Store::open(&config(&state))
            .and_then(|s| s.import(tar, Some("bench/debian:1")))
            .expect("rootlab's import");
        ours.push(clock.elapsed());
        let _ = std::fs::remove_dir_all(&state);

        let dir = work.join(format!("skopeo-{round}"));
        let clock = Instant::now();
        run(
            "skopeo",
            &[
                "copy",
                "-q",
                &format!("oci-archive:{}", tar.display()),
                &format!("oci:{}:t", dir.display()),
            ],
        );
        run(
            "umoci",
            &[
                "unpack",
                "--image",
                &format!("{}:t", dir.display()),
                &format!("{}/bundle", dir.display()),
            ],
        );
        theirs.push(clock.elapsed());
        let _ = std::fs::remove_dir_all(&dir);
    }
    let size = std::fs::metadata(tar).map_or(0, |m| m.len());
    println!(
        "\nImporting {} ({:.1} MB, 3 layers) into an empty store: {rounds} interleaved rounds",
        tar.file_name().unwrap_or_default().to_string_lossy(),
        size as f64 / 1e6
    );
    println!("{:<44} {:>10} {:>8}", "how", "median", "ratio");
    let base = percentile(&theirs, 50.0);
    for (name, s) in [
        ("skopeo copy + umoci unpack", &theirs),
        ("rootlab images import", &ours),
    ] {
        let p50 = percentile(s, 50.0);
        println!("{name:<44} {:>8.0}ms {:>8.3}", ms(p50), ms(p50) / ms(base));
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
