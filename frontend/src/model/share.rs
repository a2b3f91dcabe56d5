//! Share links: the experiment lives in the URL fragment (a preset id, or the spec JSON deflated and
//! base64url-encoded), so a pasted link reproduces it without any server-side storage.

/// What a link carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shared {
    /// A gallery preset, by id.
    Preset(String),
    /// A spec as JSON text (possibly invalid: a link may share work in progress).
    Spec(String),
}

/// A decoded fragment: the experiment and whether the link asks to run it on open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub shared: Shared,
    pub run: bool,
}

/// The fragment (without `#`) for a link.
pub fn to_fragment(link: &Link) -> String {
    let mut out = match &link.shared {
        Shared::Preset(id) => format!("preset={}", base64url_encode(id.as_bytes())),
        Shared::Spec(json) => format!("spec={}", base64url_encode(&deflate(json.as_bytes()))),
    };
    if link.run {
        out.push_str("&run=1");
    }
    out
}

/// Decodes a fragment (with or without `#`); `None` when it holds no experiment or is corrupt.
pub fn from_fragment(fragment: &str) -> Option<Link> {
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    let mut shared = None;
    let mut run = false;
    for part in fragment.split('&') {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        match key {
            "preset" => {
                let id = String::from_utf8(base64url_decode(value)?).ok()?;
                shared = Some(Shared::Preset(id));
            }
            "spec" => {
                let bytes = inflate(&base64url_decode(value)?)?;
                shared = Some(Shared::Spec(String::from_utf8(bytes).ok()?));
            }
            "run" => run = value == "1",
            _ => {}
        }
    }
    shared.map(|shared| Link { shared, run })
}

/// Links are capped so a hostile one cannot make the page inflate a zip bomb.
const MAX_INFLATED_BYTES: usize = 1 << 20;

fn deflate(bytes: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(bytes, 9)
}

fn inflate(bytes: &[u8]) -> Option<Vec<u8>> {
    miniz_oxide::inflate::decompress_to_vec_with_limit(bytes, MAX_INFLATED_BYTES).ok()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding (RFC 4648 §5), safe in a fragment as is.
pub fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_every_length() {
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 0..40 {
            let encoded = base64url_encode(&data[..len]);
            assert!(!encoded.contains(['+', '/', '=']));
            assert_eq!(base64url_decode(&encoded).unwrap(), &data[..len]);
        }
        assert_eq!(base64url_encode(b"foob"), "Zm9vYg");
    }

    #[test]
    fn spec_link_round_trips_and_is_compressed() {
        let json = format!(
            r#"{{"version":1,"steps":[{}]}}"#,
            r#"{"op":"container","name":"c1"},"#.repeat(30) + r#"{"op":"exit","in":"c1"}"#
        );
        let link = Link {
            shared: Shared::Spec(json.clone()),
            run: true,
        };
        let fragment = to_fragment(&link);
        assert!(
            fragment.len() < json.len() / 2,
            "{} !< {}",
            fragment.len(),
            json.len() / 2
        );
        assert_eq!(from_fragment(&format!("#{fragment}")), Some(link));
    }

    #[test]
    fn preset_link_round_trips() {
        let link = Link {
            shared: Shared::Preset("seed-union".into()),
            run: false,
        };
        assert_eq!(from_fragment(&to_fragment(&link)), Some(link));
    }

    #[test]
    fn corrupt_or_empty_fragments_are_refused() {
        assert_eq!(from_fragment(""), None);
        assert_eq!(from_fragment("#spec=!!!"), None);
        assert_eq!(from_fragment("#spec=AAAA"), None);
        assert_eq!(from_fragment("#run=1"), None);
    }
}
