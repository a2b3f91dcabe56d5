//! Diff benchmark: `diff_trees` on two 10,000-entry trees, against parsing the same two trees from
//! JSON (what the browser must do anyway before it can diff), measured in the same run.
//!
//! `cargo bench -p rootlab-shared --bench diff` (native release; the wasm build is slower by a
//! small factor, so the ratio to JSON parsing is the figure to compare).

use std::time::{Duration, Instant};

use rootlab_shared::diff::diff_trees;
use rootlab_shared::result::{FileKind, MountEntry, Tree, TreeEntry};

const ENTRIES: usize = 10_000;
/// Timed runs under `cargo bench` (which passes --bench); `cargo test --benches` only checks it works.
fn runs() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        50
    } else {
        2
    }
}

fn entry(i: usize) -> TreeEntry {
    TreeEntry {
        size: i as u64,
        preview: Some(format!("line {i}")),
        ..TreeEntry::new(format!("/srv/d{:03}/f{i:05}", i % 100), FileKind::File)
    }
}

fn trees() -> (Tree, Tree) {
    let mut before: Vec<TreeEntry> = (0..ENTRIES).map(entry).collect();
    // The engine walks depth first by name; keep that order so the diff's fast path is measured.
    before.sort_by(|a, b| rootlab_shared::diff::tree_order(&a.path, &b.path));
    let mut after = before.clone();
    after.retain(|e| !e.path.ends_with('3'));
    after
        .iter_mut()
        .filter(|e| e.path.ends_with('5'))
        .for_each(|e| e.size += 1);
    let tree = |entries| Tree {
        root: "/srv".into(),
        error: None,
        entries,
        truncated: false,
        complete_to: None,
    };
    (tree(before), tree(after))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(mut f: impl FnMut() -> T) -> Duration {
    let samples = (0..runs())
        .map(|_| {
            let clock = Instant::now();
            std::hint::black_box(f());
            clock.elapsed()
        })
        .collect();
    median(samples)
}

fn main() {
    let (before, after) = trees();
    let mounts: Vec<MountEntry> = Vec::new();
    let json = (
        serde_json::to_string(&before).unwrap(),
        serde_json::to_string(&after).unwrap(),
    );
    let diff = time(|| diff_trees(&before, &after, &mounts, &mounts));
    let parse = time(|| {
        let b: Tree = serde_json::from_str(&json.0).unwrap();
        let a: Tree = serde_json::from_str(&json.1).unwrap();
        (b, a)
    });
    let d = diff_trees(&before, &after, &mounts, &mounts);
    println!(
        "diff of two {ENTRIES}-entry trees, median of {} runs (native release)",
        runs()
    );
    println!("  result: {:?}", d.counts);
    println!(
        "  diff_trees:            {:>8.2} ms",
        diff.as_secs_f64() * 1e3
    );
    println!(
        "  baseline JSON parse:   {:>8.2} ms",
        parse.as_secs_f64() * 1e3
    );
    println!(
        "  diff / parse ratio:    {:>8.2}x",
        diff.as_secs_f64() / parse.as_secs_f64()
    );
}
