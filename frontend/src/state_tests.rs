//! Predict, then run, through the reducer: a pick is graded on the run's result and counted per
//! lesson; a run without a pick skips; an edited spec asks nothing.

use std::rc::Rc;

use yew::Reducible;

use super::{Action, State};
use crate::model::fixtures::fixtures;

fn after(state: Rc<State>, actions: Vec<Action>) -> Rc<State> {
    actions.into_iter().fold(state, |s, a| s.reduce(a))
}

fn lesson(id: &str) -> (rootlab_shared::presets::Preset, rootlab_shared::RunResult) {
    let (_, result, _) = fixtures().into_iter().find(|f| f.0 == id).unwrap();
    (rootlab_shared::presets::get(id).unwrap(), result)
}

#[test]
fn a_pick_is_graded_on_the_result_and_counted() {
    let (preset, result) = lesson("seed-propagation-leak");
    let answer = preset.question.as_ref().unwrap().answer;
    let s = after(
        Rc::new(State::default()),
        vec![
            Action::OpenPreset(preset.clone()),
            Action::Pick(Some(answer)),
            Action::RunStarted,
            Action::RunEnded(Ok(result.clone())),
        ],
    );
    let (id, graded) = s.graded.clone().unwrap();
    assert_eq!(id, "seed-propagation-leak");
    assert!(graded.correct);
    assert_eq!(s.quiz[&id].answered, 1);
    assert_eq!(s.pick, None, "the pick is used up");
    // Running again without a pick skips: graded, but not counted.
    let s = after(
        s,
        vec![Action::RunStarted, Action::RunEnded(Ok(result.clone()))],
    );
    assert!(s.graded.as_ref().unwrap().1.picked.is_none());
    assert_eq!(s.quiz["seed-propagation-leak"].answered, 1);
    // A wrong pick counts, and the mark follows the latest answer.
    let s = after(
        s,
        vec![
            Action::Pick(Some(1 - answer)),
            Action::RunStarted,
            Action::RunEnded(Ok(result)),
        ],
    );
    let r = &s.quiz["seed-propagation-leak"];
    assert_eq!((r.answered, r.correct, r.last_correct), (2, 1, false));
}

#[test]
fn an_edited_lesson_asks_nothing_and_grades_nothing() {
    let (preset, result) = lesson("seed-union");
    let s = after(
        Rc::new(State::default()),
        vec![Action::OpenPreset(preset), Action::Pick(Some(0))],
    );
    assert!(s.open_question().is_some());
    let edited = s.text.replace("x from A", "x from Z");
    let s = after(
        s,
        vec![
            Action::Edit(format!("{edited} ")),
            Action::RunStarted,
            Action::RunEnded(Ok(result)),
        ],
    );
    assert!(s.open_question().is_none());
    assert!(s.graded.is_none());
    assert!(s.quiz.is_empty());
}
