//! What part of the state a decision needs, so a store can load only that.

use serde::{Deserialize, Serialize};

use super::input::Input;
use super::model::{DeploymentId, State};
use crate::manifest::Catalog;

/// The part of the state an input's decision reads. Holds are always included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "value")]
pub enum Scope {
    /// Everything: holds and ticks touch every application set.
    All,
    /// The deployments (with their approvals and changelogs) and environment versions of one
    /// application set.
    ApplicationSet(String),
    /// The application set of this deployment.
    SetOf(DeploymentId),
}

/// The scope `input` needs. Deployments interact only within their application set (an
/// application belongs to one set), except through holds and time.
#[must_use]
pub fn scope_of(input: &Input, catalog: &Catalog) -> Scope {
    let set_of_app = |app: &str| {
        catalog.applications.get(app).map_or(Scope::All, |a| {
            Scope::ApplicationSet(a.application_set.clone())
        })
    };
    match input {
        Input::BuildNotified(b) => {
            let apps = catalog.applications_for_build(&b.build_definition_id, &b.container);
            match apps.as_slice() {
                [] => set_of_app(&b.build_definition_id),
                [first, rest @ ..]
                    if rest
                        .iter()
                        .all(|a| a.application_set == first.application_set) =>
                {
                    Scope::ApplicationSet(first.application_set.clone())
                }
                _ => Scope::All,
            }
        }
        Input::ReleaseRequested(r) => Scope::ApplicationSet(r.application_set.clone()),
        Input::RollbackRequested { application, .. } => set_of_app(application),
        Input::StatusReported(s) => Scope::SetOf(s.deployment.clone()),
        Input::ApprovalRecorded(a) => Scope::SetOf(a.deployment.clone()),
        Input::RetryRequested { deployment, .. }
        | Input::EffectCompleted { deployment, .. }
        | Input::EffectFailed { deployment, .. } => Scope::SetOf(deployment.clone()),
        Input::HoldPlaced { .. } | Input::HoldLifted { .. } | Input::Tick => Scope::All,
    }
}

impl State {
    /// The part of this state in `scope`: the reference semantics of a store's scoped load.
    #[must_use]
    pub fn scoped(&self, scope: &Scope) -> State {
        let set = match scope {
            Scope::All => return self.clone(),
            Scope::ApplicationSet(set) => set.clone(),
            Scope::SetOf(id) => match self.deployments.get(id) {
                Some(d) => d.application_set.clone(),
                None => {
                    return State {
                        holds: self.holds.clone(),
                        ..State::default()
                    };
                }
            },
        };
        let deployments: std::collections::BTreeMap<_, _> = self
            .deployments
            .iter()
            .filter(|(_, d)| d.application_set == set)
            .map(|(k, d)| (k.clone(), d.clone()))
            .collect();
        let apps: std::collections::BTreeSet<&str> = deployments
            .values()
            .flat_map(|d| d.applications())
            .collect();
        State {
            approvals: self
                .approvals
                .iter()
                .filter(|a| deployments.contains_key(&a.deployment))
                .cloned()
                .collect(),
            changelogs: self
                .changelogs
                .iter()
                .filter(|c| deployments.contains_key(&c.deployment))
                .cloned()
                .collect(),
            holds: self.holds.clone(),
            env_versions: self
                .env_versions
                .iter()
                .filter(|(_, v)| apps.contains(v.application.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            deployments,
        }
    }
}
