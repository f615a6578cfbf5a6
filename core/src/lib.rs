//! `cd-core`: the pure heart of Infrastream CD.
//!
//! Sans-IO means every function here is data in, data out: callers hand in file contents, tags,
//! time and ids; nothing reads a clock, the environment, the network or the file system, and
//! nothing spawns or awaits. That keeps every decision reproducible, property-testable and
//! embeddable in any runtime.

#![deny(missing_docs)]

pub mod manifest;
pub mod pipeline;
pub mod version;
mod yaml;
