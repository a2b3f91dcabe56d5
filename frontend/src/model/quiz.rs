//! Predict, then run: the learner's progress on the lessons' questions (kept in localStorage,
//! exportable as JSON) and what the card says about a graded answer.

use std::collections::BTreeMap;

use rootlab_shared::question::{Question, Verdict};
use serde::{Deserialize, Serialize};

/// The localStorage key the progress lives under.
pub const STORAGE_KEY: &str = "rootlab.progress";

/// One lesson's record: how often its question was answered, how often right, and the last time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Record {
    pub answered: u32,
    pub correct: u32,
    /// The latest answer was right (the gallery's check mark).
    pub last_correct: bool,
}

/// Records by preset id.
pub type Progress = BTreeMap<String, Record>;

/// Counts an answer to lesson `id`.
pub fn record(progress: &mut Progress, id: &str, correct: bool) {
    let r = progress.entry(id.to_string()).or_default();
    r.answered += 1;
    r.correct += u32::from(correct);
    r.last_correct = correct;
}

/// The stored progress; anything unreadable counts as none (a corrupt entry must not break the page).
pub fn load(json: Option<&str>) -> Progress {
    json.and_then(|j| serde_json::from_str::<Export>(j).ok())
        .map(|e| e.lessons)
        .unwrap_or_default()
}

/// The stored and downloaded form: versioned, so a later page can read an older file.
#[derive(Serialize, Deserialize)]
struct Export {
    rootlab_progress: u32,
    lessons: Progress,
}

/// The JSON kept in localStorage and offered by "Download progress".
pub fn export(progress: &Progress) -> String {
    serde_json::to_string_pretty(&Export {
        rootlab_progress: 1,
        lessons: progress.clone(),
    })
    .unwrap_or_default()
}

/// "3 of 11 lessons predicted right".
pub fn summary(progress: &Progress, lessons: usize) -> String {
    let right = progress.values().filter(|r| r.last_correct).count();
    let answered = progress.values().filter(|r| r.answered > 0).count();
    format!("{right} of {lessons} predicted right, {answered} answered")
}

/// The graded answer as the card shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Graded {
    pub prompt: String,
    /// (choice text, what the kernel did about it) of the pick, when there was one.
    pub picked: Option<(String, String)>,
    pub correct: bool,
    /// (choice text, what the kernel did) of the right answer.
    pub answer: (String, String),
}

/// Reads a verdict with its question into what the card shows.
pub fn graded(question: &Question, verdict: &Verdict) -> Graded {
    let line = |i: usize| {
        let text = question.choices.get(i).map(|c| c.text.clone());
        let actual = verdict.graded.get(i).map(|g| g.actual.clone());
        (text.unwrap_or_default(), actual.unwrap_or_default())
    };
    Graded {
        prompt: question.prompt.clone(),
        picked: verdict
            .picked
            .filter(|i| *i < question.choices.len())
            .map(line),
        correct: verdict.correct,
        answer: line(question.answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::fixtures;

    #[test]
    fn answers_are_counted_per_lesson_and_survive_a_round_trip() {
        let mut p = Progress::new();
        record(&mut p, "seed-union", false);
        record(&mut p, "seed-union", true);
        record(&mut p, "seed-tmpfs", false);
        assert_eq!(
            p["seed-union"],
            Record {
                answered: 2,
                correct: 1,
                last_correct: true
            }
        );
        assert!(!p["seed-tmpfs"].last_correct);
        let json = export(&p);
        assert!(json.contains("\"rootlab_progress\": 1"));
        assert_eq!(load(Some(&json)), p);
        assert_eq!(summary(&p, 11), "1 of 11 predicted right, 2 answered");
    }

    #[test]
    fn unreadable_progress_counts_as_none() {
        assert_eq!(load(None), Progress::new());
        assert_eq!(load(Some("{not json")), Progress::new());
        assert_eq!(load(Some("[1, 2]")), Progress::new());
    }

    #[test]
    fn each_lesson_grades_its_answer_right_and_another_choice_wrong_on_its_real_result() {
        for (id, result, _) in fixtures() {
            let preset = rootlab_shared::presets::get(id).unwrap();
            let q = preset.question.unwrap();
            let right = graded(&q, &q.verdict(Some(q.answer), &result));
            assert!(right.correct, "{id}");
            assert_eq!(right.picked.as_ref(), Some(&right.answer), "{id}");
            assert!(
                !right.answer.1.is_empty(),
                "{id}: the kernel's side is shown"
            );
            let other = (q.answer + 1) % q.choices.len();
            let wrong = graded(&q, &q.verdict(Some(other), &result));
            assert!(!wrong.correct, "{id}");
            assert_eq!(wrong.picked.unwrap().0, q.choices[other].text);
            assert_eq!(wrong.answer.0, q.choices[q.answer].text);
            let skipped = graded(&q, &q.verdict(None, &result));
            assert!(skipped.picked.is_none() && !skipped.correct, "{id}");
        }
    }

    #[test]
    fn the_union_lesson_shows_what_cat_printed() {
        let (_, result, _) = fixtures()
            .into_iter()
            .find(|f| f.0 == "seed-union")
            .unwrap();
        let q = rootlab_shared::presets::get("seed-union")
            .unwrap()
            .question
            .unwrap();
        let g = graded(&q, &q.verdict(Some(1), &result));
        assert_eq!(g.picked.unwrap().1, "steps[1] printed \"x from A\\n\"");
    }
}
