//! Cached read-only base images: `tools` (the host's own programs plus every library `ldd`
//! reports, built the seed's way) and `busybox` (one static binary and its applet links).
//! Built once into `<state_dir>/images/<name>-<hash of inputs>/`, atomically (temp dir, rename).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use rootlab_shared::image::ImageRef;
use rootlab_shared::result::ImageInfo;

use crate::config::EngineConfig;
use crate::sandbox::sys;

/// Bump when the layout of images changes, so old caches are not reused.
const FORMAT: u32 = 1;

/// Programs of the `tools` image (those the host has).
pub const TOOLS: &[&str] = &[
    "sh",
    "bash",
    "ls",
    "cat",
    "echo",
    "mount",
    "umount",
    "uname",
    "mkdir",
    "rm",
    "rmdir",
    "touch",
    "grep",
    "ln",
    "stat",
    "findmnt",
    "ldd",
    "env",
    "id",
    "hostname",
    "readlink",
    "sleep",
    "setsid",
    "true",
    "false",
    "head",
    "tail",
    "wc",
    "chroot",
    "cp",
    "mv",
    "chmod",
    "tr",
    "yes",
    "dd",
    "seq",
    "sort",
    "cut",
    "find",
    "ps",
    "printf",
    "test",
    "dirname",
    "basename",
    "df",
    "du",
    "pwd",
    "whoami",
    "mknod",
    "unshare",
    "pivot_root",
    "nsenter",
    "getfattr",
    "setfattr",
    "tree",
    "diff",
    "awk",
    "sed",
    "xargs",
    "mountpoint",
    "lsblk",
];

const SEARCH: [&str; 4] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/// The built-in trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    Tools,
    Busybox,
}

impl Builtin {
    pub const ALL: [Builtin; 2] = [Builtin::Tools, Builtin::Busybox];

    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::Tools => "tools",
            Builtin::Busybox => "busybox",
        }
    }

    /// The built-in a reference names, if it names one.
    pub fn named(image: &ImageRef) -> Option<Builtin> {
        Builtin::ALL
            .into_iter()
            .find(|b| b.as_str() == image.as_str())
    }
}

/// A ready image.
#[derive(Clone, Debug)]
pub struct Image {
    pub dir: PathBuf,
    pub info: ImageInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no image `{0}` here (`rootlab images ls` lists them)")]
    Unknown(String),
    #[error("the {0} image needs {1}, which this machine lacks")]
    Missing(&'static str, String),
    #[error("building the {name} image in {dir}")]
    Build {
        name: &'static str,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

static READY: Mutex<Option<HashMap<(PathBuf, Builtin), Image>>> = Mutex::new(None);

/// The image, built if needed; cached for the life of the process.
pub fn ensure(cfg: &EngineConfig, name: Builtin) -> Result<Image, ImageError> {
    let key = (cfg.state_dir.clone(), name);
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(img) = ready.get_or_insert_with(HashMap::new).get(&key) {
        return Ok(img.clone());
    }
    let img = build_or_reuse(cfg, name)?;
    ready
        .get_or_insert_with(HashMap::new)
        .insert(key, img.clone());
    Ok(img)
}

/// Where the sources of an image are on this machine.
struct Sources {
    /// (name in the image's /bin, host path)
    programs: Vec<(String, PathBuf)>,
    /// Busybox applet names linked to /bin/busybox.
    applets: Vec<String>,
}

fn sources(name: Builtin, extra: &[PathBuf]) -> Result<Sources, ImageError> {
    match name {
        Builtin::Tools => {
            let mut programs: Vec<(String, PathBuf)> = TOOLS
                .iter()
                .filter_map(|p| find_program(p).map(|path| (p.to_string(), path)))
                .collect();
            for path in extra {
                programs.push(extra_tool(path)?);
            }
            if !programs.iter().any(|(n, _)| n == "sh") {
                return Err(ImageError::Missing("tools", "/bin/sh".into()));
            }
            Ok(Sources {
                programs,
                applets: vec![],
            })
        }
        Builtin::Busybox => {
            let path = find_program("busybox")
                .ok_or_else(|| ImageError::Missing("busybox", "busybox".into()))?;
            let applets = busybox_applets(&path);
            Ok(Sources {
                programs: vec![("busybox".into(), path)],
                applets,
            })
        }
    }
}

/// An operator's extra program: an absolute path to a file, installed under its own name.
fn extra_tool(path: &Path) -> Result<(String, PathBuf), ImageError> {
    let name = path.file_name().and_then(|n| n.to_str());
    match name {
        Some(n) if path.is_absolute() && path.is_file() => Ok((n.to_string(), path.to_path_buf())),
        _ => Err(ImageError::Missing(
            "tools",
            format!(
                "{} (ROOTLAB_EXTRA_TOOLS wants absolute paths of files)",
                path.display()
            ),
        )),
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    SEARCH
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn busybox_applets(busybox: &Path) -> Vec<String> {
    let out = Command::new(busybox).arg("--list").output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    text.unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && !a.contains('/') && *a != "busybox")
        .map(String::from)
        .collect()
}

/// A stable hash (FNV-1a) of what the image is made of.
fn fingerprint(name: Builtin, src: &Sources, cfg: &EngineConfig) -> String {
    let mut text = format!(
        "{FORMAT} {} {} {}\n",
        name.as_str(),
        cfg.sandbox_uid,
        cfg.sandbox_gid
    );
    for (n, p) in &src.programs {
        let m = fs::metadata(p).ok();
        let (size, mtime) = m.map_or((0, 0), |m| (m.size(), m.mtime()));
        text.push_str(&format!("{n} {} {size} {mtime}\n", p.display()));
    }
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn build_or_reuse(cfg: &EngineConfig, name: Builtin) -> Result<Image, ImageError> {
    let src = sources(name, &cfg.extra_tools)?;
    let images = cfg.images_dir();
    let dir = images.join(format!(
        "{}-{}",
        name.as_str(),
        fingerprint(name, &src, cfg)
    ));
    let err = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |source| ImageError::Build {
            name: name.as_str(),
            dir,
            source,
        }
    };
    if !dir.is_dir() {
        build(cfg, name, &src, &images, &dir).map_err(err(&dir))?;
    }
    let programs = list_programs(&dir).map_err(err(&dir))?;
    Ok(Image {
        dir,
        info: ImageInfo {
            name: name.as_str().to_string(),
            programs,
        },
    })
}

fn list_programs(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir.join("bin"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Build into a temp dir and rename it into place (another worker may win the race: fine).
fn build(
    cfg: &EngineConfig,
    name: Builtin,
    src: &Sources,
    images: &Path,
    dir: &Path,
) -> io::Result<()> {
    fs::create_dir_all(images)?;
    fs::set_permissions(&cfg.state_dir, fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(images, fs::Permissions::from_mode(0o755))?;
    let tmp = images.join(format!(".tmp-{}-{}", name.as_str(), std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let res = populate(&tmp, src).and_then(|_| hand_over(cfg, &tmp));
    let res = res.and_then(|_| match fs::rename(&tmp, dir) {
        Err(_) if dir.is_dir() => Ok(()),
        other => other,
    });
    let _ = fs::remove_dir_all(&tmp);
    res
}

fn populate(root: &Path, src: &Sources) -> io::Result<()> {
    for d in [
        "bin", "etc", "proc", "dev", "tmp", "layers", "root", "lib", "lib64",
    ] {
        fs::create_dir_all(root.join(d))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700))?;
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    fs::write(root.join("etc/hostname"), "lab-host\n")?;
    let mut libs = BTreeSet::new();
    for (name, path) in &src.programs {
        fs::copy(path, root.join("bin").join(name))?;
        libs.extend(host_libraries(path));
    }
    for lib in libs {
        let dest = root.join(lib.trim_start_matches('/'));
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(&lib, &dest)?;
    }
    for applet in &src.applets {
        let link = root.join("bin").join(applet);
        if !link.exists() {
            symlink("busybox", link)?;
        }
    }
    Ok(())
}

/// Libraries the host's `ldd` lists for a program (none for static binaries and scripts).
fn host_libraries(program: &Path) -> Vec<String> {
    let out = Command::new("ldd").arg(program).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    crate::sandbox::rootfs::libraries(&text.unwrap_or_default())
}

/// As root, give the files to the sandbox uid so they appear as root:root inside.
fn hand_over(cfg: &EngineConfig, root: &Path) -> io::Result<()> {
    if !cfg.is_root() || cfg.sandbox_uid == 0 {
        return Ok(());
    }
    chown_tree(root, cfg.sandbox_uid, cfg.sandbox_gid)
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    sys::lchown(path, uid, gid)?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}
