//! `rootlab images`: list, inspect, import, export, remove and prune the images of the store
//! (see `crate::store`).

use std::path::PathBuf;

use anyhow::Context;
use rootlab_shared::image::ImageRef;

use super::{print, InvalidInput};
use crate::config::{EngineArgs, EngineConfig};
use crate::store::{Store, StoreError};

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    #[command(subcommand)]
    command: ImagesCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ImagesCommand {
    /// List the images (built-ins first).
    Ls {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Show an image's config and layers.
    Inspect {
        /// `tools`, `busybox`, `name[:tag]` or `sha256:<hex>`.
        image: String,
        /// Print the detail as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Import a `docker save`/`podman save` tar, or an OCI image layout (directory or tar).
    Import {
        /// The archive or layout directory.
        path: PathBuf,
        /// Name it so (else by the archive's own name, else only by digest).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Pull an image from a registry into the store (progress on a terminal).
    Pull {
        /// `[registry[:port]/]name[:tag][@sha256:<hex>]` (Docker Hub when no registry is named).
        reference: String,
        /// Name it so (default: the reference as given, `:latest` added; none for a digest).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        flags: super::pull::PullFlags,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Write an image as an OCI image layout tar.
    Export {
        image: String,
        /// The tar to write.
        out: PathBuf,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Remove a name (the image goes with its last name) or an image by digest.
    Rm {
        image: String,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Remove the layers and blobs no image uses.
    Prune {
        #[command(flatten)]
        engine: EngineArgs,
    },
}

/// `rootlab images ...`: exit 2 for an unknown image or a refused archive, 3 when the store
/// itself fails.
pub fn images(args: ImagesArgs) -> anyhow::Result<()> {
    match args.command {
        ImagesCommand::Ls { json, engine } => ls(&open(&engine)?, json),
        ImagesCommand::Inspect {
            image,
            json,
            engine,
        } => inspect(&open(&engine)?, &image, json),
        ImagesCommand::Import { path, name, engine } => {
            let store = open(&engine)?;
            let imported = store
                .import(&path, name.as_deref())
                .map_err(|e| classify(e, &format!("importing {}", path.display())))?;
            added(&imported)
        }
        ImagesCommand::Pull {
            reference,
            name,
            flags,
            engine,
        } => pull(&open(&engine)?, &reference, name, &flags),
        ImagesCommand::Export { image, out, engine } => {
            let store = open(&engine)?;
            store
                .export(&ImageRef(image.clone()), &out)
                .map_err(|e| classify(e, &format!("exporting {image}")))?;
            Ok(())
        }
        ImagesCommand::Rm { image, engine } => {
            let store = open(&engine)?;
            store
                .remove(&ImageRef(image.clone()))
                .map_err(|e| classify(e, &format!("removing {image}")))?;
            Ok(print(
                b"removed; `rootlab images prune` frees the layers no image uses\n",
            )?)
        }
        ImagesCommand::Prune { engine } => {
            let store = open(&engine)?;
            let p = store.prune().map_err(|e| classify(e, "pruning"))?;
            let line = format!(
                "removed {} layers and {} blobs, {} bytes\n",
                p.layers, p.blobs, p.bytes
            );
            Ok(print(line.as_bytes())?)
        }
    }
}

/// Pull into a layout of its own (`Store::incoming`: a pull holds no store lock while it
/// downloads; what a killed one left is removed by the next), then import it like any layout.
fn pull(
    store: &Store,
    reference: &str,
    name: Option<String>,
    flags: &super::pull::PullFlags,
) -> anyhow::Result<()> {
    let name = name.or_else(|| ImageRef::for_pulled(reference).map(|r| r.0));
    if let Some(n) = &name {
        ImageRef(n.clone())
            .check()
            .map_err(|why| InvalidInput(format!("--name {n}: {why}")))?;
    }
    let dir = store
        .incoming("pull")
        .map_err(|e| classify(e, "making room for the pull"))?;
    let pulled = super::pull::fetch(reference, &dir, flags);
    let imported = pulled.and_then(|_| {
        store
            .import_from(&dir, name.as_deref(), "pull")
            .map_err(|e| classify(e, &format!("importing {reference}")))
    });
    let _ = std::fs::remove_dir_all(&dir);
    added(&imported?)
}

/// An image the store now holds: its warnings on stderr, one line on stdout.
fn added(imported: &crate::store::Imported) -> anyhow::Result<()> {
    for w in &imported.warnings {
        eprintln!("rootlab: warning: {w}");
    }
    let s = &imported.summary;
    let line = format!(
        "{} {} ({} layers, {} bytes)\n",
        s.name, s.digest, s.layers, s.size
    );
    Ok(print(line.as_bytes())?)
}

fn open(engine: &EngineArgs) -> anyhow::Result<Store> {
    let cfg = EngineConfig::from_args(engine);
    Store::open(&cfg).map_err(|e| classify(e, "opening the image store"))
}

/// Bad input exits 2, anything else 3.
fn classify(e: StoreError, doing: &str) -> anyhow::Error {
    if e.is_invalid_input() {
        anyhow::Error::new(InvalidInput(format!("{doing}: {e}")))
    } else {
        anyhow::Error::new(e).context(doing.to_string())
    }
}

fn ls(store: &Store, json: bool) -> anyhow::Result<()> {
    let all = store.list().map_err(|e| classify(e, "listing images"))?;
    if json {
        let mut text = serde_json::to_string_pretty(&all)?;
        text.push('\n');
        return Ok(print(text.as_bytes())?);
    }
    let width = all.iter().map(|s| s.name.len()).max().unwrap_or(4).max(4);
    let mut text = format!(
        "{:<width$}  {:<19}  LAYERS  {:>12}  SOURCE\n",
        "NAME", "DIGEST", "SIZE"
    );
    for s in &all {
        let short = &s.digest[..s.digest.len().min(19)];
        text.push_str(&format!(
            "{:<width$}  {short:<19}  {:>6}  {:>12}  {}\n",
            s.name, s.layers, s.size, s.source
        ));
    }
    Ok(print(text.as_bytes())?)
}

fn inspect(store: &Store, image: &str, json: bool) -> anyhow::Result<()> {
    let d = store
        .inspect(&ImageRef(image.to_string()))
        .map_err(|e| classify(e, &format!("inspecting {image}")))?;
    if json {
        let mut text = serde_json::to_string_pretty(&d)?;
        text.push('\n');
        return Ok(print(text.as_bytes())?);
    }
    let s = &d.summary;
    let mut text = format!(
        "name:     {}\ndigest:   {}\nsource:   {}\nplatform: {}/{}\nsize:     {} bytes\n",
        s.name, s.digest, s.source, d.os, d.architecture, s.size
    );
    if let Some(c) = &s.created {
        text.push_str(&format!("created:  {c}\n"));
    }
    for (k, v) in [
        ("env", &d.env),
        ("entrypoint", &d.entrypoint),
        ("cmd", &d.cmd),
    ] {
        if !v.is_empty() {
            text.push_str(&format!("{k:<9} {}\n", v.join(" ")));
        }
    }
    text.push_str(&format!("layers ({}, bottom first):\n", d.layers.len()));
    for l in &d.layers {
        let by = l.created_by.as_deref().unwrap_or("");
        text.push_str(&format!(
            "  {}  {:>6} entries  {:>12} bytes  {}\n",
            &l.diff_id[..l.diff_id.len().min(19)],
            l.entries,
            l.size,
            by
        ));
    }
    print(text.as_bytes()).context("writing")
}
