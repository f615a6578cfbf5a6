//! The simulator: scenarios and random runs over the in-memory ports.
//!
//! A scenario runs each step to quiescence: every effect performed and every engine run
//! answered, unless the engine is MANUAL. A random run adds chaos (effects in random order,
//! manager crashes before and after effects, injected failures) and checks the invariants after
//! every step. Everything is deterministic from the seed.

mod cloudevents;
mod random;
mod scenario;
mod world;

pub use random::{RandomOptions, RandomReport, Violation, run_random};
pub use scenario::{
    ActStep, ApprovalOut, DeploymentOut, Empty, EngineStep, FailNextStep, HoldStep, PushStep,
    RejectedOut, ReleaseStep, RetryStep, RollbackStep, Scenario, ScenarioError, SimOutput,
    StageOut, Step, TickStep, UnholdStep, run_scenario,
};
