//! The page's components, one per file, each with its own `Props`.

pub mod app;
pub mod bench;
pub mod compare;
pub mod composer;
pub mod expectations;
pub mod field;
pub mod gallery;
pub mod glossary;
pub mod image_layers;
pub mod images;
pub mod issues;
pub mod json_editor;
pub mod legend;
pub mod lesson;
pub mod mount_diff;
pub mod point;
pub mod quiz;
pub mod results;
pub mod run_bar;
pub mod share_bar;
pub mod terminal;
pub mod timeline;
pub mod tree_diff;
