//! cgroup v1 limits for one sandbox (pids.max, memory.limit_in_bytes) under
//! `<cgroup root>/{pids,memory}/rootlab/<worker pid>-<run>`, and reaping of leftovers.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::sys;

const CONTROLLERS: [&str; 2] = ["pids", "memory"];
const PARENT: &str = "rootlab";

/// The cgroup directories of one run; removed by [`Cgroups::remove`].
pub struct Cgroups {
    pub dirs: Vec<PathBuf>,
    pub pids: bool,
    pub memory: bool,
}

impl Cgroups {
    /// Create the run's cgroups; `None` when the hierarchy is not writable (rootless, no v1).
    pub fn create(root: &Path, run: &str, pids_max: u64, memory_max: u64) -> Option<Cgroups> {
        let mut cg = Cgroups {
            dirs: vec![],
            pids: false,
            memory: false,
        };
        for controller in CONTROLLERS {
            let parent = root.join(controller).join(PARENT);
            if !root.join(controller).join("cgroup.procs").exists() {
                continue;
            }
            let dir = parent.join(run);
            let made = std::fs::create_dir_all(&dir).and_then(|_| match controller {
                "pids" => std::fs::write(dir.join("pids.max"), pids_max.to_string()),
                _ => set_memory(&dir, memory_max),
            });
            match made {
                Ok(()) => {
                    cg.dirs.push(dir);
                    match controller {
                        "pids" => cg.pids = true,
                        _ => cg.memory = true,
                    }
                }
                Err(_) => {
                    let _ = std::fs::remove_dir(&dir);
                }
            }
        }
        (!cg.dirs.is_empty()).then_some(cg)
    }

    /// The limits that bit so far (`pids.events` max count, `memory.failcnt`).
    pub fn limits_hit(&self) -> Vec<&'static str> {
        let counter = |dir: &Path, file: &str| -> u64 {
            std::fs::read_to_string(dir.join(file))
                .ok()
                .and_then(|t| {
                    t.split_whitespace()
                        .filter_map(|w| w.parse().ok())
                        .next_back()
                })
                .unwrap_or(0)
        };
        let mut hit = Vec::new();
        for dir in &self.dirs {
            if dir.join("pids.events").exists() && counter(dir, "pids.events") > 0 {
                hit.push("pids");
            }
            if dir.join("memory.failcnt").exists() && counter(dir, "memory.failcnt") > 0 {
                hit.push("memory");
            }
        }
        hit
    }

    /// Kill whatever is left and remove the directories.
    pub fn remove(self) {
        for dir in &self.dirs {
            remove_dir(dir);
        }
    }
}

fn set_memory(dir: &Path, bytes: u64) -> io::Result<()> {
    std::fs::write(dir.join("memory.limit_in_bytes"), bytes.to_string())?;
    // Without swap accounting this file is absent; the limit then covers RAM only.
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    if memsw.exists() {
        std::fs::write(memsw, bytes.to_string())?;
    }
    Ok(())
}

fn tasks(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Kill remaining tasks (normally none: the pid namespace died with its init) and rmdir.
fn remove_dir(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = tasks(dir);
        left.iter().for_each(|pid| sys::kill_raw(*pid));
        if left.is_empty() && std::fs::remove_dir(dir).is_ok() {
            return;
        }
        if Instant::now() > deadline || !dir.exists() {
            return;
        }
        // Killed tasks take a moment to leave the cgroup; this path only runs after a kill.
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// On worker start: remove the cgroups of workers that are gone (crashed mid-run).
pub fn reap_stale(root: &Path) {
    for controller in CONTROLLERS {
        let parent = root.join(controller).join(PARENT);
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = name.split('-').next().and_then(|p| p.parse::<i32>().ok());
            if owner.is_some_and(|pid| !sys::process_exists(pid)) {
                remove_dir(&entry.path());
            }
        }
    }
}
