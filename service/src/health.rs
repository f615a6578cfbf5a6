//! What the service knows of its own health.
//!
//! Two questions, two endpoints, as orchestrators ask them:
//! - **Liveness** (`/healthz`): is this process still doing its job, or should it be restarted?
//!   Only the effect worker counts: a process whose worker has stopped accepts decisions that
//!   nothing performs, and a restart is what brings it back.
//! - **Readiness** (`/readyz`): can it take requests now? The store must take a write, the
//!   manifest remote must answer, every background component (the Pub/Sub subscriber) must be
//!   connected, and the worker must run. A failing dependency makes the service unready, not
//!   dead: a restart would not mend a locked database or an unreachable remote.
//!
//! The worker's backlog is reported with both, for people; it does not decide either answer,
//! since a long queue after an outage is the worker doing its job.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;
use utoipa::ToSchema;

/// The health state requests and background tasks share.
#[derive(Debug, Default)]
pub struct Health {
    worker_running: AtomicBool,
    backlog: AtomicUsize,
    components: Mutex<BTreeMap<&'static str, Result<(), String>>>,
}

/// Marks the worker stopped when dropped, however the worker ends (a return or a panic).
#[derive(Debug)]
pub(crate) struct Running<'a>(&'a Health);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.worker_running.store(false, Ordering::SeqCst);
    }
}

impl Health {
    /// A background component's state: `Ok` once it is connected and working, `Err` saying
    /// why not. A component that has reported keeps the service unready until it reports `Ok`.
    pub fn report(&self, component: &'static str, state: Result<(), String>) {
        if let Ok(mut components) = self.components.lock() {
            components.insert(component, state);
        }
    }

    /// The worker is about to be spawned: it counts as running from now, so a probe between
    /// the spawn and the worker's first step does not see it stopped.
    pub(crate) fn worker_spawned(&self) {
        self.worker_running.store(true, Ordering::SeqCst);
    }

    /// The worker has started; it is marked stopped when the guard drops.
    pub(crate) fn worker_started(&self) -> Running<'_> {
        self.worker_running.store(true, Ordering::SeqCst);
        Running(self)
    }

    /// The effects queued or waiting to be recorded.
    pub(crate) fn set_backlog(&self, n: usize) {
        self.backlog.store(n, Ordering::Relaxed);
    }

    /// The worker's check.
    #[must_use]
    pub fn worker(&self) -> Check {
        let backlog = self.backlog.load(Ordering::Relaxed);
        if self.worker_running.load(Ordering::SeqCst) {
            Check::pass(
                "worker",
                format!("running; {backlog} effects in its backlog"),
            )
        } else {
            Check::fail(
                "worker",
                format!("stopped; {backlog} effects in its backlog"),
            )
        }
    }

    /// The checks of the reported components.
    #[must_use]
    pub fn components(&self) -> Vec<Check> {
        let Ok(components) = self.components.lock() else {
            return vec![Check::fail(
                "components",
                "health state poisoned".to_string(),
            )];
        };
        components
            .iter()
            .map(|(name, state)| match state {
                Ok(()) => Check::pass(name, "connected".to_string()),
                Err(e) => Check::fail(name, e.clone()),
            })
            .collect()
    }
}

/// One check of a health report.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Check {
    /// What was checked: `worker`, `store`, `manifests`, or a component such as `subscriber`.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen, or what is wrong.
    pub detail: String,
}

impl Check {
    /// A passed check.
    #[must_use]
    pub fn pass(name: &str, detail: String) -> Check {
        Check {
            name: name.to_string(),
            ok: true,
            detail,
        }
    }

    /// A failed check.
    #[must_use]
    pub fn fail(name: &str, detail: String) -> Check {
        Check {
            name: name.to_string(),
            ok: false,
            detail,
        }
    }
}

/// A health report: `/healthz` and `/readyz` answer one, 200 when every check passed and 503
/// otherwise.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Report {
    /// `ok` when every check passed, `failing` otherwise.
    pub status: ReportStatus,
    /// The checks, each with what it saw.
    pub checks: Vec<Check>,
}

/// The verdict of a health report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Every check passed.
    Ok,
    /// At least one check failed.
    Failing,
}

impl Report {
    /// The report of `checks`.
    #[must_use]
    pub fn of(checks: Vec<Check>) -> Report {
        let status = if checks.iter().all(|c| c.ok) {
            ReportStatus::Ok
        } else {
            ReportStatus::Failing
        };
        Report { status, checks }
    }
}
