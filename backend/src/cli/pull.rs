//! `rootlab pull`: fetch an image from a registry into an OCI image layout directory, with a
//! progress bar on a terminal (plain lines otherwise) on stderr.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{print, InvalidInput, EXIT_OK};
use crate::pull::{
    credentials_from_auth_file, default_auth_file, pull_to_layout, BlobKind, Credentials, Progress,
    PullError, PullOptions, Pulled, Reference, Totals,
};

#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// The image: `[registry[:port]/]name[:tag][@sha256:<hex>]` (Docker Hub when no registry
    /// is named, `:latest` when no tag).
    pub reference: String,
    /// The OCI image layout directory to create (it must not exist, or be empty).
    #[arg(long = "to", value_name = "DIR")]
    pub to: PathBuf,
    #[command(flatten)]
    pub flags: PullFlags,
}

/// How to reach the registry; shared by `rootlab pull` and `rootlab images pull`.
#[derive(clap::Args, Debug)]
pub struct PullFlags {
    /// Reach the registry over plain http (a local registry such as 127.0.0.1:5000).
    #[arg(long)]
    pub insecure: bool,
    /// The platform to take from a multi-platform image, `os/arch[/variant]` (default: this
    /// machine's, linux).
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// The registry user; the password (or token) is read from stdin (--password-stdin).
    /// Without it, the credentials `docker login`/`podman login` saved are used, if any.
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub user: Option<String>,
    /// Read the password for --user from standard input (one line).
    #[arg(long, requires = "user")]
    pub password_stdin: bool,
    /// Contact only these registries, `host[:port]` (repeatable; also binds redirects and
    /// token services). Default: any.
    #[arg(long = "allow-registry", value_name = "HOST[:PORT]")]
    pub allow_registry: Vec<String>,
    /// Print no progress.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `rootlab pull`: exit 0 with the layout written, 2 for a bad reference, platform, destination
/// or registry outside --allow-registry, 3 when the pull failed (nothing is left at --to).
pub fn pull(args: PullArgs) -> anyhow::Result<u8> {
    let pulled = fetch(&args.reference, &args.to, &args.flags)?;
    print(summary(&pulled, &args.to).as_bytes())?;
    Ok(EXIT_OK)
}

/// Pull `reference` into the layout directory `to`, drawing progress unless quiet.
pub fn fetch(reference: &str, to: &Path, flags: &PullFlags) -> anyhow::Result<Pulled> {
    let opts = options(reference, flags)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut bar = Bar::new(flags.quiet);
    let outcome = runtime.block_on(pull_to_layout(reference, to, &opts, &mut |p| bar.event(&p)));
    bar.end();
    outcome.map_err(|e| match e {
        e if e.is_invalid_input() => anyhow::Error::new(InvalidInput(e.to_string())),
        e => anyhow::Error::new(e).context(format!("pulling {reference}")),
    })
}

fn options(reference: &str, flags: &PullFlags) -> anyhow::Result<PullOptions> {
    let invalid = |e: PullError| anyhow::Error::new(InvalidInput(e.to_string()));
    let reference = Reference::parse(reference).map_err(invalid)?;
    let mut opts = PullOptions {
        allowed_registries: flags.allow_registry.clone(),
        ..PullOptions::default()
    };
    if let Some(platform) = &flags.platform {
        opts.platform = platform.parse().map_err(invalid)?;
    }
    if flags.insecure {
        opts.insecure_registries.push(reference.registry.clone());
    }
    opts.credentials = match &flags.user {
        Some(user) => Some(Credentials::new(user, read_password()?)),
        None => match default_auth_file() {
            Some(file) => credentials_from_auth_file(&file, &reference.registry)
                .map_err(|e| InvalidInput(format!("reading saved credentials: {e}")))?,
            None => None,
        },
    };
    Ok(opts)
}

fn read_password() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .context("reading the password from stdin")?;
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err(InvalidInput("--password-stdin: stdin holds no password".into()).into());
    }
    Ok(password)
}

fn summary(pulled: &Pulled, to: &Path) -> String {
    let served = if pulled.registry_digest == pulled.manifest_digest {
        String::new()
    } else {
        format!(" (Docker manifest {} as OCI)", pulled.registry_digest)
    };
    format!(
        "pulled {} ({}{served}, {}, {} layer{}, {}) into {}\n",
        pulled.reference,
        pulled.manifest_digest,
        pulled.platform,
        pulled.layers,
        if pulled.layers == 1 { "" } else { "s" },
        human(pulled.total_bytes),
        to.display()
    )
}

/// Progress on stderr: one redrawn bar on a terminal, a line per finished blob otherwise.
struct Bar {
    totals: Totals,
    quiet: bool,
    terminal: bool,
    drawn: Option<Instant>,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        Bar {
            totals: Totals::default(),
            quiet,
            terminal: std::io::stderr().is_terminal(),
            drawn: None,
        }
    }

    fn event(&mut self, event: &Progress) {
        self.totals.update(event);
        if self.quiet {
            return;
        }
        if self.terminal {
            let busy = matches!(event, Progress::Blob { .. });
            if busy
                && self
                    .drawn
                    .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
            {
                return;
            }
            self.drawn = Some(Instant::now());
            let _ = write!(std::io::stderr(), "\r\x1b[K{}", bar_line(&self.totals));
        } else if let Some(line) = plain_line(event, &self.totals) {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }

    fn end(&mut self) {
        if !self.quiet && self.terminal && self.drawn.is_some() {
            let _ = writeln!(std::io::stderr(), "\r\x1b[K{}", bar_line(&self.totals));
        }
    }
}

/// `[#########...........]  45%  1.2 MB / 2.6 MB  layer 1/2`
fn bar_line(t: &Totals) -> String {
    const WIDTH: u64 = 24;
    let done = t.done().min(t.total);
    let filled = (done * WIDTH).checked_div(t.total).unwrap_or(0) as usize;
    let percent = (done * 100).checked_div(t.total).unwrap_or(0);
    format!(
        "[{}{}] {percent:>3}%  {} / {}  layer {}/{}",
        "#".repeat(filled),
        ".".repeat(WIDTH as usize - filled),
        human(done),
        human(t.total),
        (t.layers_done + 1).min(t.layers),
        t.layers
    )
}

fn plain_line(event: &Progress, t: &Totals) -> Option<String> {
    let short = |d: &str| d.chars().take(19).collect::<String>();
    match event {
        Progress::Resolved {
            manifest_digest,
            platform,
            layers,
            total_bytes,
        } => Some(format!(
            "manifest {} ({platform}): {layers} layer{}, {}",
            short(manifest_digest),
            if *layers == 1 { "" } else { "s" },
            human(*total_bytes)
        )),
        Progress::BlobDone { kind, digest, size } => {
            let name = match kind {
                BlobKind::Config => "config".to_string(),
                BlobKind::Layer(n) => format!("layer {}/{}", n + 1, t.layers),
            };
            Some(format!("{name} {} {} done", short(digest), human(*size)))
        }
        Progress::Blob { .. } => None,
    }
}

/// Bytes in SI units, as registries and `docker` show them.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bars() {
        assert_eq!(human(999), "999 B");
        assert_eq!(human(1_084_000), "1.1 MB");
        let mut t = Totals::default();
        t.update(&Progress::Resolved {
            manifest_digest: "sha256:x".into(),
            platform: crate::pull::Platform::host(),
            layers: 2,
            total_bytes: 200,
        });
        t.update(&Progress::Blob {
            kind: BlobKind::Layer(0),
            digest: "sha256:x".into(),
            done: 100,
            total: 150,
        });
        let line = bar_line(&t);
        assert!(
            line.starts_with("[############............]  50%"),
            "{line}"
        );
        assert!(line.ends_with("layer 1/2"), "{line}");
    }
}
