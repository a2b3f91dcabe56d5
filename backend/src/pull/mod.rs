//! Pulling an image from a registry (the Distribution API v2) into a fresh OCI image layout
//! directory, every byte verified, ready for the image store to import.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rootlab::pull::PullError> {
//! use rootlab::pull::{pull_to_layout, PullOptions};
//! let opts = PullOptions {
//!     insecure_registries: vec!["127.0.0.1:5000".into()],
//!     ..PullOptions::default()
//! };
//! let pulled = pull_to_layout(
//!     "127.0.0.1:5000/busybox:1",
//!     std::path::Path::new("/tmp/busybox-layout"),
//!     &opts,
//!     &mut |p| eprintln!("{p:?}"),
//! )
//! .await?;
//! println!("{} ({}, {} layers)", pulled.manifest_digest, pulled.platform, pulled.layers);
//! # Ok(()) }
//! ```
//!
//! What a pull does, in order: parse the reference; refuse a registry outside
//! [`PullOptions::allowed_registries`] (before any connection); fetch the manifest (answering
//! the registry's 401 with Basic credentials or a Bearer token from its token service); if it
//! is an index (OCI or Docker manifest list), choose [`PullOptions::platform`] and fetch that
//! manifest by digest; check every limit against the sizes the manifest states; then download
//! the config and the layers one after the other into a hidden sibling of `dest`, each checked
//! (length and sha256) as it streams; write `oci-layout` and `index.json`; rename the sibling
//! to `dest`. Any failure removes the sibling: `dest` appears complete or not at all.
//!
//! The registry may redirect (blob downloads usually go to storage) and chooses the token
//! service's URL; both are followed only when [`policy`] allows: http(s), https unless it is
//! the registry itself or a listed insecure registry, and a host on the allow-list when there
//! is one. docs/pull.md says the same for operators.
//!
//! Files: `reference.rs` (parsing references), `policy.rs` (which hosts may be contacted),
//! `auth.rs` (credentials, challenges, auth files), `transport.rs` (HTTP: auth, redirects,
//! stalls, bounded reads), `manifest.rs` (index/manifest/config documents, platforms),
//! `layout.rs` (writing the layout atomically), `progress.rs` (reports), `error.rs`.

mod auth;
mod error;
mod layout;
mod manifest;
mod policy;
mod progress;
mod reference;
mod transport;

use std::path::Path;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

pub use auth::{credentials_from_auth_file, default_auth_file, Credentials};
pub use error::PullError;
pub use manifest::Platform;
pub use progress::{BlobKind, Progress, Totals};
pub use reference::Reference;

use layout::LayoutWriter;
use manifest::{Descriptor, Document, ImageConfig, Manifest};
use policy::HostPolicy;
use transport::Transport;

/// How to pull: where from, as whom, for which platform, within which limits.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Registries that may be pulled from, as `host[:port]` (`docker.io` for Docker Hub; a
    /// `*.domain` entry allows any host under `domain` on the default port, for the storage
    /// that blob downloads redirect to). Empty = any registry (the CLI's default); the server
    /// passes the operator's `--allow-registry` list. When not empty, redirects and token
    /// services must be on it too.
    pub allowed_registries: Vec<String>,
    /// Registries reached over plain http (`127.0.0.1:5000`); all others over https.
    pub insecure_registries: Vec<String>,
    /// Sent when the registry asks (Basic) or to its token service (Bearer); none = anonymous.
    pub credentials: Option<Credentials>,
    pub limits: PullLimits,
    /// The platform chosen from a multi-platform image (default: this machine's, linux).
    pub platform: Platform,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            allowed_registries: Vec::new(),
            insecure_registries: Vec::new(),
            credentials: None,
            limits: PullLimits::default(),
            platform: Platform::host(),
        }
    }
}

/// Limits of one pull; each is checked against the sizes the manifest states before any blob is
/// downloaded, and again against the bytes as they arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullLimits {
    /// Largest manifest, index or image config (the JSON documents held in memory).
    pub max_manifest_bytes: u64,
    /// Largest single layer.
    pub max_blob_bytes: u64,
    /// Largest image: config and layers together.
    pub max_total_bytes: u64,
    /// Most layers in one image.
    pub max_layers: usize,
    /// Longest wait for any byte (connecting, an answer's headers, the next piece of a body).
    pub stall_timeout: Duration,
}

impl Default for PullLimits {
    fn default() -> Self {
        PullLimits {
            max_manifest_bytes: 4 << 20,
            max_blob_bytes: 2 << 30,
            max_total_bytes: 4 << 30,
            max_layers: 128,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// What was pulled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    /// The reference in full (`docker.io/library/busybox:latest`).
    pub reference: String,
    /// The digest of the image manifest in the layout (named by its `index.json`): always an
    /// OCI manifest (`application/vnd.oci.image.manifest.v1+json`).
    pub manifest_digest: String,
    /// The digest of the manifest as the registry served it (what `name@digest` pins). The same
    /// as `manifest_digest` for an OCI image; for a Docker schema 2 image, whose manifest is
    /// rewritten with OCI media types in the layout (as `skopeo copy` does), it differs.
    pub registry_digest: String,
    /// The digest of the index it was chosen from, for a multi-platform image.
    pub index_digest: Option<String>,
    /// The image's platform (the index entry's, else its config's).
    pub platform: Platform,
    pub layers: usize,
    /// Bytes of the config and layers (as stored: compressed).
    pub total_bytes: u64,
}

/// Pull `reference` into a new OCI image layout at `dest` (which must not exist, or be an empty
/// directory). See the module documentation for the steps and [`PullOptions`] for the rules.
///
/// `progress` is called from the pulling task (so it must be cheap): once with
/// [`Progress::Resolved`], then for each blob as bytes arrive and when it is verified.
pub async fn pull_to_layout(
    reference: &str,
    dest: &Path,
    opts: &PullOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Pulled, PullError> {
    let reference = Reference::parse(reference)?;
    let policy = HostPolicy::new(
        &reference,
        &opts.allowed_registries,
        &opts.insecure_registries,
    )?;
    let layout = LayoutWriter::create(dest)?;
    let limits = &opts.limits;
    let mut transport = Transport::new(
        policy,
        opts.credentials.clone(),
        limits.stall_timeout,
        &reference.repository,
    )?;
    let image = resolve(&mut transport, &reference, opts).await?;
    check_limits(&reference, &image.manifest, limits)?;
    let config = fetch_config(&mut transport, &layout, &image, limits).await?;
    let platform = image.platform(&config);
    let total_bytes = image.total_bytes();
    progress(Progress::Resolved {
        manifest_digest: image.descriptor.digest.clone(),
        platform: platform.clone(),
        layers: image.manifest.layers.len(),
        total_bytes,
    });
    progress(Progress::BlobDone {
        kind: BlobKind::Config,
        digest: image.manifest.config.digest.clone(),
        size: image.manifest.config.size,
    });
    for (n, layer) in image.manifest.layers.iter().enumerate() {
        fetch_layer(&mut transport, &layout, n, layer, progress).await?;
    }
    layout
        .put("manifest", &image.descriptor, &image.bytes)
        .await?;
    layout.finish(&image.descriptor, reference.tag.as_deref())?;
    Ok(Pulled {
        reference: reference.to_string(),
        manifest_digest: image.descriptor.digest,
        registry_digest: image.registry_digest,
        index_digest: image.index_digest,
        platform,
        layers: image.manifest.layers.len(),
        total_bytes,
    })
}

/// The image manifest to pull, as served, and where it came from.
struct Image {
    /// Its media type, digest, size and (from an index) platform, as written in the layout.
    descriptor: Descriptor,
    bytes: Vec<u8>,
    manifest: Manifest,
    /// The digest of the manifest as the registry served it.
    registry_digest: String,
    index_digest: Option<String>,
}

impl Image {
    fn platform(&self, config: &ImageConfig) -> Platform {
        match &self.descriptor.platform {
            Some(p) => p.clone(),
            None => Platform {
                os: config.os.clone(),
                architecture: config.architecture.clone(),
                variant: config.variant.clone(),
            },
        }
    }

    fn total_bytes(&self) -> u64 {
        let layers = self.manifest.layers.iter().map(|l| l.size);
        layers.sum::<u64>() + self.manifest.config.size
    }
}

/// A fetched manifest endpoint: the document, its bytes and their digest.
struct Fetched {
    document: Document,
    bytes: Vec<u8>,
    digest: String,
}

/// The image manifest for `reference`, through its index when it has one.
async fn resolve(
    transport: &mut Transport,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Image, PullError> {
    let name = reference.to_string();
    let first = fetch_manifest(
        transport,
        &name,
        reference.manifest_reference(),
        reference.digest.as_deref(),
        &opts.limits,
    )
    .await?;
    let index = match first.document {
        Document::Manifest {
            media_type,
            manifest,
        } => return image(&name, media_type, first.bytes, first.digest, manifest),
        Document::Index(index) => index,
    };
    let entry = index.choose(&name, &opts.platform)?;
    let chosen = fetch_manifest(
        transport,
        &name,
        &entry.digest,
        Some(&entry.digest),
        &opts.limits,
    )
    .await?;
    match chosen.document {
        Document::Manifest {
            media_type,
            manifest,
        } => {
            let mut img = image(&name, media_type, chosen.bytes, chosen.digest, manifest)?;
            img.descriptor.platform = entry.platform.clone();
            img.index_digest = Some(first.digest);
            Ok(img)
        }
        Document::Index(_) => Err(PullError::Unsupported {
            reference: name,
            reason: format!("the index entry {} is an index itself", entry.digest),
        }),
    }
}

/// The image to write: a Docker schema 2 manifest becomes an OCI one (same blobs), since OCI
/// layout readers take only those.
fn image(
    name: &str,
    media_type: String,
    bytes: Vec<u8>,
    digest: String,
    manifest: Manifest,
) -> Result<Image, PullError> {
    manifest.check(name)?;
    let (media_type, bytes) = if media_type == manifest::DOCKER_MANIFEST {
        let oci = manifest::docker_to_oci(&bytes).map_err(|reason| PullError::Invalid {
            what: format!("{name}: the manifest"),
            reason,
        })?;
        (manifest::OCI_MANIFEST.to_string(), oci)
    } else {
        (media_type, bytes)
    };
    Ok(Image {
        descriptor: Descriptor {
            media_type,
            digest: sha256(&bytes),
            size: bytes.len() as u64,
            platform: None,
        },
        bytes,
        manifest,
        registry_digest: digest,
        index_digest: None,
    })
}

/// `GET manifests/<tag or digest>`, bounded, its digest checked against the one asked for and
/// the registry's `Docker-Content-Digest`.
async fn fetch_manifest(
    transport: &mut Transport,
    name: &str,
    tag_or_digest: &str,
    expected: Option<&str>,
    limits: &PullLimits,
) -> Result<Fetched, PullError> {
    let accept = manifest::accept_header();
    let path = format!("manifests/{tag_or_digest}");
    let response = transport.get(&path, Some(&accept)).await?;
    let content_type = Transport::content_type(&response);
    let header_digest = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let what = format!("the manifest {tag_or_digest}");
    let bytes = transport
        .read_bounded(
            response,
            limits.max_manifest_bytes,
            &what,
            "max_manifest_bytes",
        )
        .await?;
    let document = manifest::parse_document(name, content_type.as_deref(), &bytes)?;
    let digest = sha256(&bytes);
    let claimed = header_digest.filter(|d| d.starts_with("sha256:"));
    for wanted in [expected.map(str::to_string), claimed]
        .into_iter()
        .flatten()
    {
        if wanted != digest {
            return Err(PullError::DigestMismatch {
                what,
                expected: wanted,
                actual: digest,
            });
        }
    }
    Ok(Fetched {
        document,
        bytes,
        digest,
    })
}

/// Refuse, before downloading, an image over a limit by the sizes its manifest states.
fn check_limits(
    reference: &Reference,
    manifest: &Manifest,
    limits: &PullLimits,
) -> Result<(), PullError> {
    let too_big = |what: String, size: u64, limit: u64, limit_name| PullError::TooBig {
        what,
        size,
        limit,
        limit_name,
    };
    let layers = manifest.layers.len();
    if layers > limits.max_layers {
        return Err(too_big(
            format!("{reference}: {layers} layers"),
            layers as u64,
            limits.max_layers as u64,
            "max_layers",
        ));
    }
    let config = &manifest.config;
    if config.size > limits.max_manifest_bytes {
        let what = format!("the config {}", config.digest);
        return Err(too_big(
            what,
            config.size,
            limits.max_manifest_bytes,
            "max_manifest_bytes",
        ));
    }
    for layer in manifest.layers.iter() {
        if layer.size > limits.max_blob_bytes {
            let what = format!("the layer {}", layer.digest);
            return Err(too_big(
                what,
                layer.size,
                limits.max_blob_bytes,
                "max_blob_bytes",
            ));
        }
    }
    let total = manifest
        .layers
        .iter()
        .fold(config.size, |sum, l| sum.saturating_add(l.size));
    if total > limits.max_total_bytes {
        let what = format!("{reference}: the image");
        return Err(too_big(
            what,
            total,
            limits.max_total_bytes,
            "max_total_bytes",
        ));
    }
    Ok(())
}

/// The config blob: fetched into memory, verified, written, and read for its platform and its
/// diff ids (one per layer, or the image is inconsistent).
async fn fetch_config(
    transport: &mut Transport,
    layout: &LayoutWriter,
    image: &Image,
    limits: &PullLimits,
) -> Result<ImageConfig, PullError> {
    let descriptor = &image.manifest.config;
    let response = transport
        .get(&format!("blobs/{}", descriptor.digest), None)
        .await?;
    let what = format!("the config {}", descriptor.digest);
    let bytes = transport
        .read_bounded(
            response,
            limits.max_manifest_bytes,
            &what,
            "max_manifest_bytes",
        )
        .await?;
    layout.put("the config", descriptor, &bytes).await?;
    let invalid = |reason: String| PullError::Invalid {
        what: what.clone(),
        reason,
    };
    let config: ImageConfig = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    let (diff_ids, layers) = (config.rootfs.diff_ids.len(), image.manifest.layers.len());
    if diff_ids != layers {
        return Err(invalid(format!(
            "it lists {diff_ids} layer diff ids for the manifest's {layers} layers"
        )));
    }
    Ok(config)
}

/// One layer, streamed into the layout and verified on the way.
async fn fetch_layer(
    transport: &mut Transport,
    layout: &LayoutWriter,
    n: usize,
    descriptor: &Descriptor,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), PullError> {
    let kind = BlobKind::Layer(n);
    let done = |size| Progress::BlobDone {
        kind,
        digest: descriptor.digest.clone(),
        size,
    };
    if layout.has_blob(&descriptor.digest) {
        progress(done(descriptor.size));
        return Ok(());
    }
    let report = |done| Progress::Blob {
        kind,
        digest: descriptor.digest.clone(),
        done,
        total: descriptor.size,
    };
    progress(report(0));
    let mut response = transport
        .get(&format!("blobs/{}", descriptor.digest), None)
        .await?;
    let what = format!("the layer {}", n + 1);
    let mut writer = layout.blob(&what, descriptor).await?;
    while let Some(chunk) = transport.chunk(&mut response).await? {
        writer.write(&chunk).await?;
        progress(report(writer.written()));
    }
    writer.finish().await?;
    progress(done(descriptor.size));
    Ok(())
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The server awaits pulls in its (multi-threaded) handlers: the future must be `Send`.
    #[test]
    fn the_pull_future_is_send() {
        let opts = PullOptions::default();
        let mut progress = |_: Progress| {};
        let future = pull_to_layout("x", Path::new("/nonexistent/x"), &opts, &mut progress);
        assert_send(&future);
    }

    #[test]
    fn limits_are_checked_against_stated_sizes() {
        let reference = Reference::parse("r.example/x").unwrap();
        let d = |size| Descriptor {
            media_type: String::new(),
            digest: format!("sha256:{}", "a".repeat(64)),
            size,
            platform: None,
        };
        let manifest = Manifest {
            config: d(10),
            layers: vec![d(100), d(100)],
        };
        let limits = PullLimits::default();
        assert!(check_limits(&reference, &manifest, &limits).is_ok());
        let over = |l: PullLimits| {
            check_limits(&reference, &manifest, &l)
                .unwrap_err()
                .to_string()
        };
        let err = over(PullLimits {
            max_blob_bytes: 99,
            ..limits.clone()
        });
        assert!(
            err.contains("100 bytes, over the limit of 99 (max_blob_bytes)"),
            "{err}"
        );
        let err = over(PullLimits {
            max_total_bytes: 200,
            ..limits.clone()
        });
        assert!(err.contains("(max_total_bytes)"), "{err}");
        let err = over(PullLimits {
            max_layers: 1,
            ..limits.clone()
        });
        assert!(err.contains("(max_layers)"), "{err}");
        let err = over(PullLimits {
            max_manifest_bytes: 9,
            ..limits
        });
        assert!(err.contains("the config"), "{err}");
    }
}
