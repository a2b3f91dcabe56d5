//! Every lesson's question is well formed, and its answer is the only choice that holds on the
//! recorded real result of that lesson (`frontend/tests/fixtures/`, from `rootlab run <id> --json`).

use super::*;
use crate::presets;

macro_rules! recorded {
    ($id:literal) => {
        (
            $id,
            include_str!(concat!("../../../frontend/tests/fixtures/", $id, ".json")),
        )
    };
}

const RECORDED: [(&str, &str); 17] = [
    recorded!("seed-inherit"),
    recorded!("seed-tmpfs"),
    recorded!("seed-propagation-leak"),
    recorded!("seed-propagation-private"),
    recorded!("seed-propagation-slave"),
    recorded!("propagation-userns"),
    recorded!("bind-rslave"),
    recorded!("move-mount"),
    recorded!("background-watch"),
    recorded!("seed-chroot"),
    recorded!("seed-chroot-missing-lib"),
    recorded!("seed-kernel"),
    recorded!("seed-union"),
    recorded!("overlay-options"),
    recorded!("seed-layers"),
    recorded!("image-layers"),
    recorded!("pivot-vs-chroot"),
];

fn result_of(id: &str) -> RunResult {
    let (_, json) = RECORDED.iter().find(|(name, _)| *name == id).unwrap();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{id}: {e}"))
}

#[test]
fn every_preset_asks_a_well_formed_question() {
    for p in presets::all() {
        let q = p
            .question
            .as_ref()
            .unwrap_or_else(|| panic!("{} asks nothing", p.id));
        assert_eq!(q.problems(&p.spec), Vec::<String>::new(), "{}", p.id);
    }
}

#[test]
fn every_preset_has_a_recorded_result() {
    let ids: Vec<&str> = RECORDED.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, presets::ids());
}

#[test]
fn the_answer_is_the_only_choice_that_holds_on_the_real_result() {
    for p in presets::all() {
        let q = p.question.unwrap();
        let result = result_of(&p.id);
        let held: Vec<usize> = q
            .verdict(None, &result)
            .graded
            .iter()
            .filter(|g| g.passed)
            .map(|g| g.index)
            .collect();
        assert_eq!(held, vec![q.answer], "{}", p.id);
    }
}

#[test]
fn a_pick_is_graded_right_or_wrong_with_the_evidence() {
    let q = presets::get("seed-union").unwrap().question.unwrap();
    let result = result_of("seed-union");
    let right = q.verdict(Some(0), &result);
    assert!(right.correct);
    assert_eq!(right.graded[0].actual, "steps[1] printed \"x from A\\n\"");
    let wrong = q.verdict(Some(1), &result);
    assert!(!wrong.correct);
    assert!(!wrong.graded[1].passed);
    assert_eq!(wrong.graded[1].expected, "steps[1] prints \"x from B\"");
    let skipped = q.verdict(None, &result);
    assert!(!skipped.correct && skipped.picked.is_none());
    assert_eq!(skipped.graded.len(), q.choices.len());
    // A pick out of range is wrong, not a panic.
    assert!(!q.verdict(Some(9), &result).correct);
}

#[test]
fn the_new_lessons_grade_a_wrong_pick_with_the_kernels_side() {
    // The rootless container: "the umount works" is graded against the EINVAL the kernel gave.
    let q = presets::get("propagation-userns")
        .unwrap()
        .question
        .unwrap();
    let wrong = q.verdict(Some(0), &result_of("propagation-userns"));
    assert!(!wrong.correct);
    assert!(
        wrong.graded[0].actual.contains("refused with EINVAL"),
        "{}",
        wrong.graded[0].actual
    );
    // Two actors at once: "gave up" is graded against what the running program printed.
    let q = presets::get("background-watch").unwrap().question.unwrap();
    let wrong = q.verdict(Some(1), &result_of("background-watch"));
    assert!(!wrong.correct);
    assert!(wrong.graded[1].actual.contains("/mnt/x is a mountpoint"));
    // The move: right is EINVAL, whatever the fix after it did.
    let q = presets::get("move-mount").unwrap().question.unwrap();
    assert!(q.verdict(Some(q.answer), &result_of("move-mount")).correct);
}

#[test]
fn problems_name_bad_questions() {
    let p = presets::get("seed-union").unwrap();
    let mut q = p.question.clone().unwrap();
    q.answer = 3;
    q.choices.push(q.choices[0].clone());
    q.choices[1].text = " ".into();
    q.choices[2].expect = Expectation::Mount {
        snapshot: "never taken".into(),
        view: "host".into(),
        target: "/".into(),
        present: true,
        propagation: None,
    };
    let problems = q.problems(&p.spec);
    assert!(
        problems.contains(&"choices[1] has no text".to_string()),
        "{problems:?}"
    );
    assert!(problems.iter().any(|m| m.starts_with("choices[2] names")));
    assert!(problems.contains(&"choices[3] repeats an earlier choice".to_string()));
    q.choices.truncate(1);
    q.prompt.clear();
    let problems = q.problems(&p.spec);
    assert!(problems.contains(&"the prompt is empty".to_string()));
    assert!(problems.contains(&"1 choices (2 to 4 wanted)".to_string()));
    assert!(problems.contains(&"answer 3 is not a choice".to_string()));
}

#[test]
fn a_question_reads_from_json_and_a_preset_without_one_still_parses() {
    let q: Question = serde_json::from_str(
        r#"{"prompt": "p", "answer": 1, "choices": [
            {"text": "ok", "expect": {"kind": "outcome", "step": 0}},
            {"text": "EINVAL", "expect": {"kind": "outcome", "step": 0, "errno": "EINVAL"}}]}"#,
    )
    .unwrap();
    assert_eq!(q.answer, 1);
    assert!(serde_json::from_str::<Question>(
        r#"{"prompt": "p", "answer": 0, "choices": [], "x": 1}"#
    )
    .is_err());
    let mut v = serde_json::to_value(presets::get("seed-tmpfs").unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("question");
    let p: presets::Preset = serde_json::from_value(v).unwrap();
    assert!(p.question.is_none());
}
