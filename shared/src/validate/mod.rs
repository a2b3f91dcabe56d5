//! Validation of an experiment spec: every path, name, count and size is hostile until checked here,
//! and each problem is reported with the JSON path of the field that holds it.

#[cfg(test)]
mod background_tests;
mod commit;
#[cfg(test)]
mod commit_tests;
mod entries;
mod expect;
mod parse;
mod rules;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::spec::{Entry, HostSpec, Layer, Spec, Step, SPEC_VERSION};

pub use parse::parse_spec;
pub use rules::{abs_path_problem, name_problem, rel_path_problem};
use rules::{control_char_problem, link_target_problem, mode_problem};
use steps::Timeline;

/// Longest title, in bytes.
const MAX_TITLE_BYTES: usize = 256;

/// One problem with a spec, tied to the field that holds it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON path of the field, e.g. `steps[3].target`; empty for the document as a whole.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Check every rule; return all problems found, in field order.
pub fn validate(spec: &Spec, limits: &Limits) -> Result<(), Vec<FieldError>> {
    let mut check = Checker {
        limits,
        errors: Vec::new(),
    };
    check.header(spec);
    check.host(&spec.host);
    check.layers(&spec.layers);
    check.counts(spec);
    let layer_names = spec.layers.iter().map(|l| l.name.as_str()).collect();
    let mut timeline = Timeline::new(layer_names);
    for (i, step) in spec.steps.iter().enumerate() {
        timeline.step(&mut check, &format!("steps[{i}]"), step);
    }
    expect::check(&mut check, spec);
    if check.errors.is_empty() {
        Ok(())
    } else {
        Err(check.errors)
    }
}

/// Accumulates problems; knows the limits.
struct Checker<'a> {
    limits: &'a Limits,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn found(&mut self, field: &str, problem: Option<String>) {
        if let Some(message) = problem {
            self.err(field, message);
        }
    }

    fn header(&mut self, spec: &Spec) {
        if spec.version != SPEC_VERSION {
            let msg = format!(
                "unsupported spec version {}; this server reads version {SPEC_VERSION}",
                spec.version
            );
            self.err("version", msg);
        }
        if spec.title.len() > MAX_TITLE_BYTES {
            self.err("title", format!("longer than {MAX_TITLE_BYTES} bytes"));
        }
        self.found("title", control_char_problem(&spec.title));
        if spec.steps.is_empty() {
            self.err("steps", "an experiment needs at least one step");
        }
    }

    fn host(&mut self, host: &HostSpec) {
        self.found("host.image", host.image.check().err());
        self.collisions("host.files", &host.files);
        for (i, entry) in host.files.iter().enumerate() {
            let field = format!("host.files[{i}]");
            self.found(&format!("{field}.path"), abs_path_problem(entry.path()));
            self.entry_body(&field, entry);
            match entry {
                Entry::Whiteout { .. } => {
                    self.err(format!("{field}.type"), "whiteouts exist only in layers")
                }
                Entry::Dir { opaque: true, .. } => self.err(
                    format!("{field}.opaque"),
                    "opaque directories exist only in layers",
                ),
                _ => {}
            }
        }
    }

    fn layers(&mut self, layers: &[Layer]) {
        let mut seen = HashSet::new();
        for (i, layer) in layers.iter().enumerate() {
            let field = format!("layers[{i}]");
            self.found(&format!("{field}.name"), name_problem(&layer.name));
            if !seen.insert(layer.name.as_str()) {
                self.err(
                    format!("{field}.name"),
                    format!("layer `{}` is declared twice", layer.name),
                );
            }
            if let Some(from) = &layer.from {
                self.found(&format!("{field}.from.image"), from.image.check().err());
                if !layer.entries.is_empty() {
                    self.err(
                        format!("{field}.entries"),
                        "a layer taken from an image has no entries of its own",
                    );
                }
            }
            self.collisions(&format!("{field}.entries"), &layer.entries);
            for (j, entry) in layer.entries.iter().enumerate() {
                let field = format!("{field}.entries[{j}]");
                self.found(&format!("{field}.path"), rel_path_problem(entry.path()));
                self.entry_body(&field, entry);
            }
        }
    }

    /// Two entries at one path, or one below a file, symlink or whiteout of the same list.
    fn collisions(&mut self, field: &str, list: &[Entry]) {
        for (j, message) in entries::collisions(list) {
            self.err(format!("{field}[{j}].path"), message);
        }
    }

    /// Content size, mode and symlink target of a declared entry.
    fn entry_body(&mut self, field: &str, entry: &Entry) {
        match entry {
            Entry::File { content, mode, .. } => {
                self.content(&format!("{field}.content"), content);
                self.found(&format!("{field}.mode"), mode_problem(*mode));
            }
            Entry::Dir { mode, .. } => self.found(&format!("{field}.mode"), mode_problem(*mode)),
            Entry::Symlink { target, .. } => {
                self.found(&format!("{field}.target"), link_target_problem(target))
            }
            Entry::Whiteout { .. } => {}
        }
    }

    fn content(&mut self, field: &str, content: &str) {
        if content.len() > self.limits.max_file_bytes {
            let msg = format!(
                "{} bytes of content; the limit is {}",
                content.len(),
                self.limits.max_file_bytes
            );
            self.err(field, msg);
        }
    }

    fn counts(&mut self, spec: &Spec) {
        let l = self.limits;
        let files =
            spec.host.files.len() + spec.layers.iter().map(|l| l.entries.len()).sum::<usize>();
        let mounts = spec.steps.iter().filter(|s| is_mount(s)).count();
        let containers = spec
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Container { .. }))
            .count();
        self.count("steps", "steps", spec.steps.len(), l.max_steps);
        self.count(
            "host.files",
            "host files and layer entries",
            files,
            l.max_files,
        );
        self.count("layers", "layers", spec.layers.len(), l.max_layers);
        self.count(
            "steps",
            "mounting steps (tmpfs, bind, overlay, proc)",
            mounts,
            l.max_mounts,
        );
        self.count("steps", "containers", containers, l.max_containers);
    }

    fn count(&mut self, field: &str, what: &str, n: usize, max: usize) {
        if n > max {
            self.err(field, format!("{n} {what}; the limit is {max}"));
        }
    }
}

fn is_mount(step: &Step) -> bool {
    matches!(
        step,
        Step::Tmpfs { .. } | Step::Bind { .. } | Step::Overlay { .. } | Step::Proc { .. }
    )
}
