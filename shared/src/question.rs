//! A lesson's question, asked before ▶ Run: a prompt and 2 to 4 choices, each an [`Expectation`],
//! so the answer is graded on the real result with [`crate::expect::grade`] (in the browser too).

use serde::{Deserialize, Serialize};

use crate::expect::{grade, Expectation, Graded};
use crate::result::RunResult;
use crate::spec::{Spec, Step};

/// "What does `cat C/x` print?" with its choices; `answer` is the index of the right one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub prompt: String,
    pub choices: Vec<Choice>,
    /// Index in `choices` of the one that holds on the real kernel.
    pub answer: usize,
}

/// One choice: what the learner reads, and what it claims about the result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub text: String,
    pub expect: Expectation,
}

/// How a learner's pick fared against a result.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The pick, when the learner answered.
    pub picked: Option<usize>,
    /// The pick's claim held on the result.
    pub correct: bool,
    /// Every choice graded, in order (`Graded::index` is the choice's index).
    pub graded: Vec<Graded>,
}

impl Question {
    /// Grade every choice against `result`, and the pick among them.
    pub fn verdict(&self, picked: Option<usize>, result: &RunResult) -> Verdict {
        let expects: Vec<Expectation> = self.choices.iter().map(|c| c.expect.clone()).collect();
        let graded = grade(&expects, result);
        let correct = picked.and_then(|i| graded.get(i)).is_some_and(|g| g.passed);
        Verdict {
            picked,
            correct,
            graded,
        }
    }

    /// Problems with the question itself (not with a result): choice count, answer in range,
    /// texts filled, steps and snapshots the choices name present in `spec`, no repeats.
    pub fn problems(&self, spec: &Spec) -> Vec<String> {
        let labels: Vec<&str> = spec
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Snapshot { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        if self.prompt.trim().is_empty() {
            out.push("the prompt is empty".to_string());
        }
        if !(2..=4).contains(&self.choices.len()) {
            out.push(format!("{} choices (2 to 4 wanted)", self.choices.len()));
        }
        if self.answer >= self.choices.len() {
            out.push(format!("answer {} is not a choice", self.answer));
        }
        for (i, c) in self.choices.iter().enumerate() {
            if c.text.trim().is_empty() {
                out.push(format!("choices[{i}] has no text"));
            }
            let known = match &c.expect {
                Expectation::Outcome { step, .. } | Expectation::Stdout { step, .. } => {
                    *step < spec.steps.len()
                }
                Expectation::Mount { snapshot, .. } | Expectation::Path { snapshot, .. } => {
                    labels.contains(&snapshot.as_str())
                }
            };
            if !known {
                out.push(format!(
                    "choices[{i}] names a step or snapshot the spec lacks"
                ));
            }
            if self.choices[..i].iter().any(|o| o.expect == c.expect) {
                out.push(format!("choices[{i}] repeats an earlier choice"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
