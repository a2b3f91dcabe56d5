//! rootlab's backend: the sandbox engine that runs experiments on the real kernel, the worker
//! process that hosts it, the command-line runner, and the HTTP server.
//!
//! Data flows one way: `server` (async, multi-threaded) -> `coordinator` (a pool of worker
//! processes) -> `protocol` (JSON lines) -> `worker` (single-threaded) -> `engine` (forks the
//! sandbox) -> `sandbox` (the only module that talks to the kernel).

pub mod cli;
pub mod config;
pub mod coordinator;
pub mod engine;
pub mod images;
pub mod protocol;
pub mod pull;
pub mod report;
pub mod sandbox;
pub mod server;
pub mod store;
pub mod worker;
