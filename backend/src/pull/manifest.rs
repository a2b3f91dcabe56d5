//! The documents a registry serves (image index / manifest list, image manifest, image config),
//! read just as far as a pull needs: what kind each is, its descriptors, and which platform an
//! index entry is for. OCI and Docker schema 2 media types are accepted; schema 1 is refused.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::PullError;
use super::reference::check_digest;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const IMAGE_CONFIGS: [&str; 2] = [OCI_CONFIG, "application/vnd.docker.container.image.v1+json"];
/// Docker's layer media types and their OCI names (the bytes are the same).
const DOCKER_LAYERS: [(&str, &str); 3] = [
    (
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.oci.image.layer.v1.tar",
    ),
];
const LAYER_PREFIXES: [&str; 3] = [
    "application/vnd.oci.image.layer.",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
];

/// The `Accept` header of manifest requests: every kind we read, schema 1 last so that a
/// registry holding only that says so (and we can name the problem).
pub fn accept_header() -> String {
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST]
        .iter()
        .map(|t| t.to_string())
        .chain(DOCKER_SCHEMA1.iter().map(|t| format!("{t};q=0.1")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A content descriptor: what a manifest or index points at.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An OS and CPU an image is built for, as an index states it (`linux/arm64/v8`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A manifest list or OCI index.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The essentials of an image config: its platform and one diff id per layer.
#[derive(Deserialize, Debug)]
pub struct ImageConfig {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
    pub rootfs: RootFs,
}

#[derive(Deserialize, Debug)]
pub struct RootFs {
    pub diff_ids: Vec<String>,
}

/// What a manifest request returned.
#[derive(Debug)]
pub enum Document {
    Index(Index),
    Manifest {
        media_type: String,
        manifest: Manifest,
    },
}

/// The fields that tell documents apart, whatever the `Content-Type` said.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u32>,
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    config: Option<serde_json::Value>,
}

/// Read a manifest endpoint's answer. `content_type` decides when it is one of ours; a generic
/// one (`application/json`, none) leaves it to the body's `mediaType` and shape.
pub fn parse_document(
    reference: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Document, PullError> {
    let invalid = |reason: String| PullError::Invalid {
        what: format!("{reference}: the manifest"),
        reason,
    };
    let probe: Probe = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
    let header = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
    let media_type = match (header, probe.media_type.as_deref()) {
        (Some(h), _) if is_known(h) => h.to_string(),
        (_, Some(m)) => m.to_string(),
        _ if probe.schema_version == Some(1) => DOCKER_SCHEMA1[0].to_string(),
        _ if probe.manifests.is_some() => OCI_INDEX.to_string(),
        _ if probe.config.is_some() => OCI_MANIFEST.to_string(),
        _ => header.unwrap_or("none").to_string(),
    };
    if DOCKER_SCHEMA1.contains(&media_type.as_str()) || probe.schema_version == Some(1) {
        return Err(PullError::Schema1 {
            reference: reference.to_string(),
        });
    }
    match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => Ok(Document::Index(
            serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?,
        )),
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(Document::Manifest {
            manifest: serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?,
            media_type,
        }),
        other => Err(PullError::Unsupported {
            reference: reference.to_string(),
            reason: format!("the registry answered a `{other}`, not an image manifest or index"),
        }),
    }
}

fn is_known(media_type: &str) -> bool {
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].contains(&media_type)
        || DOCKER_SCHEMA1.contains(&media_type)
}

impl Manifest {
    /// Refuse what is not a container image we can store: an artifact's config, a layer that is
    /// no tar, a digest we cannot verify or name a file by.
    pub fn check(&self, reference: &str) -> Result<(), PullError> {
        let unsupported = |reason: String| PullError::Unsupported {
            reference: reference.to_string(),
            reason,
        };
        if !IMAGE_CONFIGS.contains(&self.config.media_type.as_str()) {
            return Err(unsupported(format!(
                "not a container image: its config is a `{}`",
                self.config.media_type
            )));
        }
        for layer in &self.layers {
            if !LAYER_PREFIXES
                .iter()
                .any(|p| layer.media_type.starts_with(p))
            {
                return Err(unsupported(format!(
                    "layer {} is a `{}`, not an image layer",
                    layer.digest, layer.media_type
                )));
            }
        }
        for d in std::iter::once(&self.config).chain(&self.layers) {
            check_digest(&d.digest).map_err(unsupported)?;
        }
        Ok(())
    }
}

/// A Docker schema 2 manifest rewritten as an OCI one, as `skopeo copy` to an OCI layout does:
/// the same config and layer blobs under their OCI media types (OCI layout readers such as
/// umoci and skopeo's `oci:` accept only OCI manifests). Other fields are kept.
pub fn docker_to_oci(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use serde_json::Value;
    let mut doc: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    doc["mediaType"] = Value::from(OCI_MANIFEST);
    doc["config"]["mediaType"] = Value::from(OCI_CONFIG);
    for layer in doc["layers"].as_array_mut().into_iter().flatten() {
        let docker = layer["mediaType"].as_str().unwrap_or("");
        if let Some((_, oci)) = DOCKER_LAYERS.iter().find(|(d, _)| *d == docker) {
            layer["mediaType"] = Value::from(*oci);
        }
    }
    serde_json::to_vec(&doc).map_err(|e| e.to_string())
}

impl Platform {
    /// The platform of this machine, as Go (and so every registry) names it.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// Whether an index entry for `other` serves a request for `self` (a missing variant asks
    /// for any; arm64's default variant is v8).
    pub fn accepts(&self, other: &Platform) -> bool {
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            ("amd64", Some("v1")) => None,
            (_, v) => v.map(str::to_string),
        };
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || norm(self) == norm(other))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

impl FromStr for Platform {
    type Err = PullError;

    /// `os/arch` or `os/arch/variant`.
    fn from_str(s: &str) -> Result<Self, PullError> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric());
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if parts.iter().all(ok) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts.get(2).map(|v| v.to_string()),
            }),
            _ => Err(PullError::Platform(s.to_string())),
        }
    }
}

impl Index {
    /// The entry for `wanted`: the first image manifest whose platform matches; otherwise an
    /// error listing the platforms there are (attestations, `unknown/unknown`, left out).
    pub fn choose(&self, reference: &str, wanted: &Platform) -> Result<&Descriptor, PullError> {
        let is_image =
            |d: &&Descriptor| [OCI_MANIFEST, DOCKER_MANIFEST, ""].contains(&d.media_type.as_str());
        let found = self
            .manifests
            .iter()
            .filter(is_image)
            .find(|d| d.platform.as_ref().is_some_and(|p| wanted.accepts(p)));
        found.ok_or_else(|| PullError::NoPlatform {
            reference: reference.to_string(),
            wanted: wanted.to_string(),
            available: self
                .manifests
                .iter()
                .filter(is_image)
                .filter_map(|d| d.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(Platform::to_string)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn index_json() -> String {
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": digest('a'), "size": 10,
                 "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "digest": digest('b'), "size": 10,
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"mediaType": OCI_MANIFEST, "digest": digest('c'), "size": 10,
                 "platform": {"os": "unknown", "architecture": "unknown"}}
            ]
        })
        .to_string()
    }

    #[test]
    fn documents_by_header_or_by_body() {
        let index = index_json();
        let doc = parse_document("r", Some(OCI_INDEX), index.as_bytes()).unwrap();
        assert!(matches!(doc, Document::Index(_)));
        let doc = parse_document("r", Some("application/json"), index.as_bytes()).unwrap();
        assert!(matches!(doc, Document::Index(_)), "by its mediaType");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": IMAGE_CONFIGS[1], "digest": digest('a'), "size": 2},
            "layers": []
        })
        .to_string();
        match parse_document("r", Some(DOCKER_MANIFEST), manifest.as_bytes()).unwrap() {
            Document::Manifest { media_type, .. } => assert_eq!(media_type, DOCKER_MANIFEST),
            other => panic!("{other:?}"),
        }
        let doc = parse_document("r", None, manifest.as_bytes()).unwrap();
        assert!(matches!(doc, Document::Manifest { .. }), "by its shape");
    }

    #[test]
    fn schema1_and_strangers_are_refused_by_name() {
        let v1 = r#"{"schemaVersion": 1, "name": "x", "fsLayers": []}"#;
        for ct in [Some(DOCKER_SCHEMA1[1]), Some("application/json"), None] {
            let err = parse_document("r", ct, v1.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("schema 1"), "{err}");
        }
        let err = parse_document("r", Some("text/html"), b"{}").unwrap_err();
        assert!(err.to_string().contains("`text/html`"), "{err}");
        assert!(parse_document("r", Some(OCI_INDEX), b"<html>").is_err());
    }

    #[test]
    fn platforms_are_chosen_or_listed() {
        let Document::Index(index) =
            parse_document("r", Some(OCI_INDEX), index_json().as_bytes()).unwrap()
        else {
            panic!()
        };
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(index.choose("r", &amd64).unwrap().digest, digest('a'));
        let arm: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(index.choose("r", &arm).unwrap().digest, digest('b'));
        let arm_v8: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(index.choose("r", &arm_v8).unwrap().digest, digest('b'));
        let err = index
            .choose("r", &"linux/s390x".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no image for linux/s390x (available: linux/amd64, linux/arm64/v8)"),
            "{err}"
        );
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/v1/x".parse::<Platform>().is_err());
        assert!("linux/../x".parse::<Platform>().is_err());
    }

    #[test]
    fn docker_manifests_become_oci_ones() {
        let docker = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": IMAGE_CONFIGS[1], "digest": digest('a'), "size": 2},
            "layers": [{"mediaType": DOCKER_LAYERS[0].0, "digest": digest('b'), "size": 3}],
        });
        let oci = docker_to_oci(docker.to_string().as_bytes()).unwrap();
        let oci: serde_json::Value = serde_json::from_slice(&oci).unwrap();
        assert_eq!(oci["mediaType"], OCI_MANIFEST);
        assert_eq!(oci["config"]["mediaType"], OCI_CONFIG);
        assert_eq!(oci["config"]["digest"], digest('a'));
        assert_eq!(
            oci["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(oci["layers"][0]["size"], 3);
        assert_eq!(oci["schemaVersion"], 2);
    }

    #[test]
    fn manifests_that_are_not_images_are_refused() {
        let manifest = |config: &str, layer: &str| Manifest {
            config: Descriptor {
                media_type: config.into(),
                digest: digest('a'),
                size: 2,
                platform: None,
            },
            layers: vec![Descriptor {
                media_type: layer.into(),
                digest: digest('b'),
                size: 2,
                platform: None,
            }],
        };
        let gz = "application/vnd.oci.image.layer.v1.tar+gzip";
        assert!(manifest(IMAGE_CONFIGS[0], gz).check("r").is_ok());
        let err = manifest("application/vnd.cncf.helm.config.v1+json", gz)
            .check("r")
            .unwrap_err();
        assert!(err.to_string().contains("not a container image"), "{err}");
        assert!(manifest(IMAGE_CONFIGS[0], "text/plain").check("r").is_err());
        let mut bad = manifest(IMAGE_CONFIGS[0], gz);
        bad.layers[0].digest = "sha256:../../etc/passwd".into();
        assert!(bad.check("r").is_err());
    }
}
