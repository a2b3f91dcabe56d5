//! View models: pure logic behind the components, free of web-sys so it is unit-tested on the host.

pub mod compare;
pub mod curl;
pub mod expect_form;
pub mod fields;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod form;
pub mod glossary;
pub mod help;
pub mod images;
pub mod json_lint;
pub mod json_pos;
pub mod legend;
pub mod lesson_pair;
pub mod mounts;
pub mod point;
pub mod quiz;
pub mod share;
pub mod sse;
pub mod tree;
pub mod validation;
