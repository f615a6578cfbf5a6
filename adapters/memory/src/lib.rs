//! `cd-memory`: Infrastream CD in memory.
//!
//! Every port in memory ([`MemoryStore`], [`MemoryRegistry`], [`MemoryRepo`],
//! [`MemorySourceHost`], [`MemoryNotifier`]), seeded fault decorators ([`Faulty`]), a simulated
//! engine ([`SimEngine`]), and the simulator that runs scenarios and random runs over them
//! ([`sim`]), and the smallest tenant to run them on ([`minimal_tenant`]). Everything is deterministic from one seed: users embed it to test their own
//! tenants and tooling, and the project uses it to test the pipeline under faults.

#![deny(missing_docs)]

mod engine;
mod faults;
mod journal;
mod notifier;
mod registry;
mod repo;
mod rng;
pub mod sim;
mod source;
mod store;
mod tenant;

pub use engine::{EngineError, EngineMode, EngineRun, RunTarget, SimEngine};
pub use faults::{Faults, Faulty, Operation};
pub use journal::Journal;
pub use notifier::MemoryNotifier;
pub use registry::{MemoryRegistry, TagEvent};
pub use repo::{CommitRecord, MemoryRepo};
pub use rng::SimRng;
pub use source::MemorySourceHost;
pub use store::MemoryStore;
pub use tenant::minimal_tenant;
