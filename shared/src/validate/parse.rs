//! From JSON text to a [`Spec`]: serde's error located at the field that holds it.

use serde_json::error::Category;

use super::{validate, FieldError};
use crate::limits::Limits;
use crate::spec::Spec;

/// Parse a JSON spec and validate it. A syntax or type error is reported alone (nothing else
/// can be checked); a well-formed spec reports every rule it breaks.
pub fn parse_spec(json: &str, limits: &Limits) -> Result<Spec, Vec<FieldError>> {
    let spec = deserialize_spec(json).map_err(|e| vec![e])?;
    validate(&spec, limits)?;
    Ok(spec)
}

fn deserialize_spec(json: &str) -> Result<Spec, FieldError> {
    // serde fills a struct from a JSON array, field by field: refuse that first.
    if let Ok(doc) = serde_json::from_str::<serde_json::Value>(json) {
        array_for_object(&doc).map_or(Ok(()), Err)?;
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let raw = e.inner().to_string();
        let message = sanitized(&raw);
        let field = match e.inner().classify() {
            Category::Syntax | Category::Eof | Category::Io => String::new(),
            Category::Data => refine_field(json, &path_string(e.path()), &raw),
        };
        FieldError::new(field, message)
    })?;
    de.end().map_err(|e| FieldError::new("", e.to_string()))?;
    Ok(spec)
}

fn path_string(path: &serde_path_to_error::Path) -> String {
    let path = path.to_string();
    if path == "." {
        String::new()
    } else {
        path
    }
}

/// Most keys of an object probed to find the field at fault (spec objects have at most 7).
const MAX_PROBED_KEYS: usize = 16;

/// The keys that name the variant of a step (`op`) and of an entry (`type`).
const TAGS: [&str; 2] = ["op", "type"];

/// What removing one key of the failing object did to the parse.
#[derive(PartialEq)]
enum Removal {
    /// The object parses now (or the first error moved elsewhere): the key was the culprit.
    Fixed,
    /// The only complaint is that this key is now missing: the culprit if nothing else is.
    MissingItself,
    Unrelated,
}

/// serde reads internally tagged enums (steps, entries) through a buffer that hides the field
/// path, so an error inside a step is reported at `steps[3]`. Find the culprit field: the one
/// whose removal makes the object parse (or complain only that this very field is missing).
fn refine_field(json: &str, path: &str, message: &str) -> String {
    if let Some(name) = quoted_after(message, "unknown field `") {
        return if path.ends_with(&name) {
            path.to_string()
        } else {
            join_field(path, &name)
        };
    }
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(json) else {
        return path.to_string();
    };
    let Some(serde_json::Value::Object(object)) = lookup(&doc, path) else {
        return path.to_string();
    };
    if message.starts_with("unknown variant") {
        let tag = TAGS.into_iter().find(|t| object.contains_key(*t));
        return tag.map_or(path.to_string(), |t| join_field(path, t));
    }
    // Each probe re-parses the document: only worth it for objects of spec size (a hostile
    // object with thousands of keys would make this quadratic).
    if object.len() > MAX_PROBED_KEYS {
        return path.to_string();
    }
    let removals: Vec<(&String, Removal)> = object
        .keys()
        .map(|k| (k, try_without(&doc, path, k)))
        .collect();
    [Removal::Fixed, Removal::MissingItself]
        .iter()
        .find_map(|want| removals.iter().find(|(_, r)| r == want))
        .map_or(path.to_string(), |(key, _)| join_field(path, key))
}

fn try_without(doc: &serde_json::Value, path: &str, key: &str) -> Removal {
    let mut trimmed = doc.clone();
    if let Some(serde_json::Value::Object(o)) = lookup_mut(&mut trimmed, path) {
        o.remove(key);
    }
    match serde_path_to_error::deserialize::<_, Spec>(trimmed) {
        Ok(_) => Removal::Fixed,
        Err(e) if path_string(e.path()) != path => Removal::Fixed,
        // A missing tag (`op`, `type`) says nothing about the field at fault.
        Err(_) if TAGS.contains(&key) => Removal::Unrelated,
        Err(e) if e.inner().to_string() == format!("missing field `{key}`") => {
            Removal::MissingItself
        }
        Err(_) => Removal::Unrelated,
    }
}

fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

fn join_field(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Split `steps[3].target` into `steps`, `[3]`, `target` segments.
fn path_segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) {
            if let Ok(i) = rest[open + 1..close].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn lookup<'v>(doc: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    path_segments(path)
        .into_iter()
        .try_fold(doc, |v, seg| match seg {
            Segment::Key(k) => v.get(k),
            Segment::Index(i) => v.get(i),
        })
}

fn lookup_mut<'v>(doc: &'v mut serde_json::Value, path: &str) -> Option<&'v mut serde_json::Value> {
    path_segments(path)
        .into_iter()
        .try_fold(doc, |v, seg| match seg {
            Segment::Key(k) => v.get_mut(k),
            Segment::Index(i) => v.get_mut(i),
        })
}
/// serde's messages quote the offending input: cut it short and escape control characters.
fn sanitized(message: &str) -> String {
    const MAX_MESSAGE_CHARS: usize = 300;
    let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    let escaped: String = cut
        .chars()
        .flat_map(|c| {
            let esc: Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            esc
        })
        .collect();
    if cut.len() < message.len() {
        format!("{escaped}…")
    } else {
        escaped
    }
}

/// The first place where the spec's shape wants an object and the document has an array.
fn array_for_object(doc: &serde_json::Value) -> Option<FieldError> {
    use serde_json::Value;
    let refuse = |field: &str| {
        let at = if field.is_empty() { "the spec" } else { field };
        FieldError::new(
            field,
            format!("{at} must be an object (`{{...}}`), not an array"),
        )
    };
    let objects = |v: Option<&Value>, field: &str| -> Option<FieldError> {
        let items = v?.as_array()?;
        items
            .iter()
            .position(Value::is_array)
            .map(|i| refuse(&format!("{field}[{i}]")))
    };
    if doc.is_array() {
        return Some(refuse(""));
    }
    let host = doc.get("host");
    if host.is_some_and(Value::is_array) {
        return Some(refuse("host"));
    }
    objects(host.and_then(|h| h.get("files")), "host.files")
        .or_else(|| objects(doc.get("steps"), "steps"))
        .or_else(|| objects(doc.get("layers"), "layers"))
        .or_else(|| objects(doc.get("expect"), "expect"))
        .or_else(|| {
            let layers = doc.get("layers")?.as_array()?;
            layers
                .iter()
                .enumerate()
                .find_map(|(i, l)| objects(l.get("entries"), &format!("layers[{i}].entries")))
        })
}
