//! `cd-ports`: the ports of Infrastream CD and the driver that runs the core through them.
//!
//! Ports are small async traits (`Send + Sync + 'static`, runtime-agnostic: no executor is
//! assumed). Each documents, under `# Errors`, the variants an adapter MUST return, because the
//! driver's behaviour depends on them: `Conflict` makes it re-decide, `Unavailable` makes it
//! retry with backoff, everything else is permanent. The [`Driver`] is the only code that calls
//! ports: decisions, effects and the reads for people alike (`Driver::deployment`,
//! `Driver::deployments`, `Driver::holds`). A host wires adapters into [`Ports`] and hands them
//! to the Driver; nothing takes them back out. The one exception is by design: the engine
//! runner is the Engine, another system, which reads the manifest repository through its own
//! clone and speaks to the Driver only through its status reports.
//!
//! To run the pipeline inside another service, see docs/EMBEDDING.md and `examples/embedding`:
//! a host with a store of its own takes one build to SUCCEEDED through a `Driver`.

#![deny(missing_docs)]

mod backoff;
mod clock;
mod driver;
mod effect_loop;
mod notifier;
mod registry;
mod repo;
mod source;
mod store;

pub use backoff::Backoff;
pub use clock::{Clock, ManualClock};
pub use driver::{Driver, DriverError, Outstanding, Ports, RetryPolicy};
pub use effect_loop::{EffectLoop, LoopPolicy, Recorded};
pub use notifier::{Notifier, NotifyError};
pub use registry::{Registry, RegistryError, check_tag};
pub use repo::{ManifestRepo, RepoError};
pub use source::{PullRequest, SourceError, SourceHost};
pub use store::{
    DeploymentFilter, DeploymentView, ListCursor, MAX_PAGE, Store, StoreError, change_times,
    deployment_tables, waiting_on_people, waits_on_people,
};
