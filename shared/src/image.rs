//! Container images as rootlab stores and shows them: how a spec names one ([`ImageRef`]), what
//! the store reports about it ([`ImageSummary`], [`ImageDetail`], [`LayerInfo`]) and each layer's
//! entries as its tar listed them ([`LayerEntry`]), from which `layerview` computes what each layer
//! added, changed and deleted.

use serde::{Deserialize, Serialize};

/// How a spec names an image: a built-in tree (`tools`, `busybox`), a name given at import, pull
/// or commit (`debian`, `library/nginx:1.27`, `my-app:v2`) or a manifest digest
/// (`sha256:<64 hex>`). A name without a tag means `:latest`, except the built-ins.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(transparent)]
pub struct ImageRef(pub String);

/// What [`ImageRef::check`] accepts, as the OpenAPI document states it.
pub const IMAGE_REF_PATTERN: &str = r"^(sha256:[0-9a-f]{64}|([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?)$";

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ImageRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(IMAGE_REF_PATTERN))
            .max_length(Some(MAX_IMAGE_REF))
            .description(Some(
                "An image: `tools` (default), `busybox`, a stored `name[:tag]` or `sha256:<hex>`.",
            ))
            .examples(["tools"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ImageRef {}

/// The longest image reference accepted.
pub const MAX_IMAGE_REF: usize = 255;

/// The built-in trees, always in the store.
pub const BUILTIN_IMAGES: [&str; 2] = ["tools", "busybox"];

impl Default for ImageRef {
    fn default() -> Self {
        ImageRef::tools()
    }
}

impl ImageRef {
    pub fn tools() -> Self {
        ImageRef("tools".into())
    }

    pub fn busybox() -> Self {
        ImageRef("busybox".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_builtin(&self) -> bool {
        BUILTIN_IMAGES.contains(&self.0.as_str())
    }

    /// `sha256:<hex>` when the reference is a digest.
    pub fn digest(&self) -> Option<&str> {
        self.0
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|_| self.0.as_str())
    }

    /// The reference with `:latest` added to a name without a tag (built-ins and digests stay).
    pub fn normalized(&self) -> String {
        if self.is_builtin() || self.digest().is_some() || self.tag().is_some() {
            self.0.clone()
        } else {
            format!("{}:latest", self.0)
        }
    }

    fn tag(&self) -> Option<&str> {
        let last = self.0.rsplit('/').next().unwrap_or(&self.0);
        last.split_once(':').map(|(_, t)| t)
    }

    /// The name an image pulled by `reference` is stored under: the reference as typed, with
    /// `:latest` added when it has no tag; none when it is pinned by digest or is no name.
    pub fn for_pulled(reference: &str) -> Option<ImageRef> {
        let r = ImageRef(reference.to_string());
        (!reference.contains('@') && r.check().is_ok()).then(|| ImageRef(r.normalized()))
    }

    /// Why the reference is not one, if it is not (the message names no field: callers do).
    pub fn check(&self) -> Result<(), String> {
        let s = self.0.as_str();
        if s.is_empty() {
            return Err("an image name is needed (e.g. `tools`)".into());
        }
        if s.len() > MAX_IMAGE_REF {
            return Err(format!("longer than {MAX_IMAGE_REF} bytes"));
        }
        if let Some(hex) = s.strip_prefix("sha256:") {
            return if self.digest().is_some() && !hex.bytes().any(|b| b.is_ascii_uppercase()) {
                Ok(())
            } else {
                Err("a digest is `sha256:` and 64 lowercase hex digits".into())
            };
        }
        let (name, tag) = match s.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t)),
            _ => (s, None),
        };
        if let Some(tag) = tag {
            check_tag(tag)?;
        }
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        };
        // A registry host with a port may lead (`127.0.0.1:5000/busybox`).
        let (host, path) = match name.split_once('/') {
            Some((h, rest)) if h.contains(':') => (Some(h), rest),
            _ => (None, name),
        };
        let host_ok = host.is_none_or(|h| {
            h.split_once(':').is_some_and(|(n, port)| {
                component_ok(n) && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
            })
        });
        if host_ok && path.split('/').all(component_ok) {
            Ok(())
        } else {
            Err(format!(
                "`{name}` is not an image name: lowercase letters, digits and . _ - between \
                 slashes (e.g. `tools`, `debian`, `library/nginx:1.27`)"
            ))
        }
    }
}

/// A tag as registries accept it: up to 128 of `A-Za-z0-9_.-`, not starting with `.` or `-`.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is not a tag: up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -"
        ))
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored image, as `rootlab images ls` and `GET /api/images` list it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageSummary {
    /// What specs name it by: `tools`, `busybox`, or `name:tag`.
    pub name: String,
    /// The manifest's digest, `sha256:<hex>` (for a built-in, the digest of its one layer's
    /// listing).
    pub digest: String,
    /// Number of layers, bottom to top.
    pub layers: usize,
    /// Bytes of its files once unpacked (layers shared with other images counted here too).
    pub size: u64,
    /// Where it came from: `builtin`, `import`, `pull`, `commit`.
    pub source: String,
    /// The config's `created`, RFC 3339, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// One stored image in full: its config's essentials and its layers. In JSON the summary's
/// fields sit beside the others, and `layers` is the list (its length is the summary's count).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(into = "DetailJson", from = "DetailJson")]
pub struct ImageDetail {
    pub summary: ImageSummary,
    pub architecture: String,
    pub os: String,
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: Option<String>,
    /// Bottom (the base) first.
    pub layers: Vec<LayerInfo>,
}

/// [`ImageDetail`] as JSON (and in the OpenAPI document, as `ImageDetail`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ImageDetail))]
pub struct DetailJson {
    /// What specs name it by.
    pub name: String,
    /// The manifest's digest.
    pub digest: String,
    /// Bytes of its files once unpacked.
    pub size: u64,
    /// `builtin`, `import`, `pull`, `commit`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Bottom (the base) first.
    pub layers: Vec<LayerInfo>,
}

impl From<ImageDetail> for DetailJson {
    fn from(d: ImageDetail) -> Self {
        let s = d.summary;
        DetailJson {
            name: s.name,
            digest: s.digest,
            size: s.size,
            source: s.source,
            created: s.created,
            architecture: d.architecture,
            os: d.os,
            env: d.env,
            entrypoint: d.entrypoint,
            cmd: d.cmd,
            working_dir: d.working_dir,
            layers: d.layers,
        }
    }
}

impl From<DetailJson> for ImageDetail {
    fn from(j: DetailJson) -> Self {
        ImageDetail {
            summary: ImageSummary {
                name: j.name,
                digest: j.digest,
                layers: j.layers.len(),
                size: j.size,
                source: j.source,
                created: j.created,
            },
            architecture: j.architecture,
            os: j.os,
            env: j.env,
            entrypoint: j.entrypoint,
            cmd: j.cmd,
            working_dir: j.working_dir,
            layers: j.layers,
        }
    }
}

/// One layer of a stored image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerInfo {
    /// The digest of the uncompressed layer tar (the config's `rootfs.diff_ids` entry); the
    /// store keys unpacked layers by it.
    pub diff_id: String,
    /// The digest and size of the blob as shipped (compressed), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_size: Option<u64>,
    /// Bytes of the regular files the layer holds.
    pub size: u64,
    /// Entries in the layer's tar (whiteouts and opaque markers included).
    pub entries: usize,
    /// The build step that made it (the config history's `created_by`), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// One entry of a layer, as the layer's tar lists it, in overlayfs terms: an OCI whiteout
/// `.wh.<name>` is a [`LayerEntryKind::Whiteout`] at `<name>`, a `.wh..wh..opq` marks its
/// directory `opaque`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerEntry {
    /// Relative to the layer's root, no leading `/` (`etc/os-release`).
    pub path: String,
    pub kind: LayerEntryKind,
    /// Bytes, for regular files (0 otherwise).
    #[serde(default)]
    pub size: u64,
    /// Permission bits as stored (setuid/setgid already stripped by the store), at most 0o7777.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(maximum = 4095))]
    pub mode: u32,
    /// A symlink's or hard link's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A directory whose lower-layer contents are hidden (`.wh..wh..opq`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opaque: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LayerEntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// A deletion of the path in the layers below.
    Whiteout,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_accepted_and_refused() {
        for ok in [
            "tools",
            "busybox",
            "debian",
            "debian:12",
            "library/nginx:1.27-alpine",
            "localhost/my.app_x:v2.0",
            "127.0.0.1:5000/busybox:1",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(ImageRef(ok.into()).check(), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Debian",
            "debian:",
            "debian:-x",
            "a//b",
            "-a",
            "a-",
            "sha256:abc",
            "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "a b",
            "../x",
            "host:x/a",
        ] {
            assert!(ImageRef(bad.into()).check().is_err(), "{bad}");
        }
        assert!(ImageRef("a".repeat(256)).check().is_err());
    }

    #[test]
    fn a_detail_in_json_has_one_layers_key_the_list() {
        let layer = LayerInfo {
            diff_id: "sha256:aa".into(),
            digest: None,
            blob_size: None,
            size: 1,
            entries: 1,
            created_by: None,
        };
        let detail = ImageDetail {
            summary: ImageSummary {
                name: "x:1".into(),
                digest: "sha256:bb".into(),
                layers: 1,
                size: 1,
                source: "import".into(),
                created: None,
            },
            architecture: "amd64".into(),
            os: "linux".into(),
            env: vec![],
            entrypoint: vec![],
            cmd: vec![],
            working_dir: None,
            layers: vec![layer],
        };
        let text = serde_json::to_string(&detail).unwrap();
        assert_eq!(text.matches("\"layers\"").count(), 1, "{text}");
        assert!(text.contains("\"name\":\"x:1\""));
        assert_eq!(serde_json::from_str::<ImageDetail>(&text).unwrap(), detail);
    }

    #[test]
    fn a_pulled_reference_is_stored_under_its_name_with_a_tag() {
        let name = |r: &str| ImageRef::for_pulled(r).map(|i| i.0);
        assert_eq!(
            name("127.0.0.1:5000/app").as_deref(),
            Some("127.0.0.1:5000/app:latest")
        );
        assert_eq!(name("nginx:1.27").as_deref(), Some("nginx:1.27"));
        assert_eq!(name("nginx@sha256:00"), None);
        assert_eq!(name("Not A Name"), None);
    }

    #[test]
    fn normalized_adds_latest_to_names_only() {
        assert_eq!(ImageRef("debian".into()).normalized(), "debian:latest");
        assert_eq!(ImageRef("debian:12".into()).normalized(), "debian:12");
        assert_eq!(ImageRef("tools".into()).normalized(), "tools");
        assert_eq!(
            ImageRef("localhost:5000/x".into()).normalized(),
            "localhost:5000/x:latest"
        );
    }
}
