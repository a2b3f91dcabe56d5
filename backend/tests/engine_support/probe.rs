//! The attacker's probe (`tests/fixtures/probe.c`): built static once, put in the `tools`
//! image through `ROOTLAB_EXTRA_TOOLS`, and also run on the bare host as the control.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/probe.c");

/// The built probe; rebuilt only when its source is newer, so the image cache keeps it.
pub fn path() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join("probe");
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if mtime(&bin).is_none() || mtime(&bin) < mtime(Path::new(SOURCE)) {
            let staged = bin.with_extension(format!("{}", std::process::id()));
            let out = Command::new("cc")
                .args(["-static", "-O2", "-o"])
                .arg(&staged)
                .arg(SOURCE)
                .output()
                .expect("running cc (scripts/setup.sh installs gcc and libc6-dev)");
            assert!(
                out.status.success(),
                "cc probe.c: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::rename(&staged, &bin).unwrap();
        }
        bin
    })
}

/// What the probe prints on the bare host, outside any sandbox.
pub fn on_host(mode: &str) -> String {
    let out = Command::new(path()).arg(mode).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
