//! The presets: each lesson of the seed as a ready-made experiment, with a learner's explanation.
//! The JSON files in `shared/presets/` are the source; they are compiled in and parsed once.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::question::Question;
use crate::spec::Spec;

/// One lesson, ready to run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// E.g. `seed-tmpfs`; the file name without `.json`.
    pub id: String,
    /// The lesson of LESSONS.md it belongs to (1 to 8).
    pub lesson: u8,
    pub title: String,
    /// One line: what happens.
    pub summary: String,
    /// A few short paragraphs: what to look at in the result and why the kernel did it.
    pub explanation: String,
    /// Asked before ▶ Run; graded on the real result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<Question>,
    pub spec: Spec,
}

/// A preset in a list: everything but its spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PresetSummary {
    /// E.g. `seed-tmpfs`.
    pub id: String,
    /// The lesson it belongs to (1 to 8).
    pub lesson: u8,
    pub title: String,
    /// One line: what happens.
    pub summary: String,
    /// What to look at in the result and why the kernel did it.
    pub explanation: String,
}

impl From<&Preset> for PresetSummary {
    fn from(p: &Preset) -> Self {
        PresetSummary {
            id: p.id.clone(),
            lesson: p.lesson,
            title: p.title.clone(),
            summary: p.summary.clone(),
            explanation: p.explanation.clone(),
        }
    }
}

/// (file name, contents), in lesson order.
const SOURCES: [(&str, &str); 17] = [
    ("seed-inherit", include_str!("../presets/seed-inherit.json")),
    ("seed-tmpfs", include_str!("../presets/seed-tmpfs.json")),
    (
        "seed-propagation-leak",
        include_str!("../presets/seed-propagation-leak.json"),
    ),
    (
        "seed-propagation-private",
        include_str!("../presets/seed-propagation-private.json"),
    ),
    (
        "seed-propagation-slave",
        include_str!("../presets/seed-propagation-slave.json"),
    ),
    (
        "propagation-userns",
        include_str!("../presets/propagation-userns.json"),
    ),
    ("bind-rslave", include_str!("../presets/bind-rslave.json")),
    ("move-mount", include_str!("../presets/move-mount.json")),
    (
        "background-watch",
        include_str!("../presets/background-watch.json"),
    ),
    ("seed-chroot", include_str!("../presets/seed-chroot.json")),
    (
        "seed-chroot-missing-lib",
        include_str!("../presets/seed-chroot-missing-lib.json"),
    ),
    ("seed-kernel", include_str!("../presets/seed-kernel.json")),
    ("seed-union", include_str!("../presets/seed-union.json")),
    (
        "overlay-options",
        include_str!("../presets/overlay-options.json"),
    ),
    ("seed-layers", include_str!("../presets/seed-layers.json")),
    ("image-layers", include_str!("../presets/image-layers.json")),
    (
        "pivot-vs-chroot",
        include_str!("../presets/pivot-vs-chroot.json"),
    ),
];

fn parsed() -> &'static [Preset] {
    static ALL: OnceLock<Vec<Preset>> = OnceLock::new();
    ALL.get_or_init(|| {
        SOURCES
            .iter()
            // The files are compiled in and checked by the tests below: a broken one is a build defect.
            .map(|(name, json)| {
                serde_json::from_str(json).unwrap_or_else(|e| panic!("preset {name}: {e}"))
            })
            .collect()
    })
}

/// Every preset, in lesson order.
pub fn all() -> Vec<Preset> {
    parsed().to_vec()
}

/// The preset with this id.
pub fn get(id: &str) -> Option<Preset> {
    parsed().iter().find(|p| p.id == id).cloned()
}

/// The ids, in lesson order.
pub fn ids() -> Vec<&'static str> {
    SOURCES.iter().map(|(name, _)| *name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Propagation, Step};
    use crate::validate::validate;
    use crate::Limits;

    #[test]
    fn every_preset_is_valid_under_the_default_limits() {
        for p in all() {
            assert_eq!(validate(&p.spec, &Limits::default()), Ok(()), "{}", p.id);
        }
    }

    #[test]
    fn file_names_match_ids_and_lessons_are_in_order() {
        let all = all();
        assert_eq!(all.len(), SOURCES.len());
        for (p, (name, _)) in all.iter().zip(SOURCES) {
            assert_eq!(p.id, name);
            assert!((1..=8).contains(&p.lesson), "{}", p.id);
        }
        assert!(all.windows(2).all(|w| w[0].lesson <= w[1].lesson));
    }

    #[test]
    fn every_lesson_has_its_presets() {
        let expected = [
            "seed-inherit",
            "seed-tmpfs",
            "seed-propagation-leak",
            "seed-propagation-private",
            "seed-propagation-slave",
            "propagation-userns",
            "bind-rslave",
            "move-mount",
            "background-watch",
            "seed-chroot",
            "seed-chroot-missing-lib",
            "seed-kernel",
            "seed-union",
            "overlay-options",
            "seed-layers",
            "pivot-vs-chroot",
        ];
        for id in expected {
            assert!(get(id).is_some(), "{id} missing");
        }
        let lessons: std::collections::BTreeSet<u8> = all().iter().map(|p| p.lesson).collect();
        assert_eq!(
            lessons.into_iter().collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
        assert!(get("nope").is_none());
    }

    #[test]
    fn texts_are_filled_and_summaries_are_one_line() {
        for p in all() {
            assert!(!p.title.is_empty() && !p.explanation.is_empty(), "{}", p.id);
            assert!(
                !p.summary.is_empty() && !p.summary.contains('\n'),
                "{}",
                p.id
            );
        }
    }

    #[test]
    fn the_leak_lesson_runs_on_a_shared_root_and_its_fix_makes_it_private() {
        let leak = get("seed-propagation-leak").unwrap();
        assert_eq!(leak.spec.host.root_propagation, Propagation::Shared);
        let fix = get("seed-propagation-private").unwrap();
        let makes_private = fix.spec.steps.iter().any(|s| {
            matches!(s, Step::MakePropagation { actor, target, propagation: Propagation::Private, recursive: true }
                if actor == "c1" && target == "/")
        });
        assert!(makes_private);
    }

    #[test]
    fn the_missing_lib_variant_skips_libraries() {
        let p = get("seed-chroot-missing-lib").unwrap();
        assert!(p.spec.steps.iter().any(|s| matches!(
            s,
            Step::BuildRootfs {
                skip_libraries: true,
                ..
            }
        )));
    }
}
