//! Decisions: the state writes and effects `decide` returns, and how writes apply to a state.

use serde::{Deserialize, Serialize};

use super::effect::Effect;
use super::model::{
    ApprovalRecord, ChangelogRecord, Deployment, DeploymentId, EnvVersion, Hold, State,
};

/// What an input changes and what must happen next.
///
/// A driver commits `writes` atomically first (the intent), then performs `effects`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// State writes, to apply in one transaction.
    pub writes: Vec<StateWrite>,
    /// Effects to perform after the writes are committed.
    pub effects: Vec<Effect>,
    /// The deployments the input concerns (created, found by deduplication, or addressed).
    pub deployments: Vec<DeploymentId>,
}

impl Decision {
    /// True when the input changed nothing (a duplicate, a stale report, a spurious tick).
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.writes.is_empty() && self.effects.is_empty()
    }

    /// The engine deadlines this decision sets or keeps on the deployments it writes: when to
    /// send the next [`Input::Tick`](super::Input::Tick). A deadline the decision clears is
    /// simply absent; a driver that scheduled it before gets a tick that changes nothing.
    pub fn deadlines(&self) -> impl Iterator<Item = super::model::Timestamp> + '_ {
        super::deadlines(self.writes.iter().filter_map(|w| match w {
            StateWrite::PutDeployment { deployment, .. } => Some(deployment.as_ref()),
            _ => None,
        }))
    }
}

/// One write. Deployments and environment versions carry the revision they were read at; a
/// store applies the whole decision only if every such revision is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum StateWrite {
    /// Create (`expected_revision: None`) or replace a deployment with its stages, bundle apps
    /// and outbox.
    PutDeployment {
        /// The new value; its `revision` is `expected_revision + 1` (or 1 when created).
        deployment: Box<Deployment>,
        /// The revision read, or `None` to create (the id and dedup key must be new).
        expected_revision: Option<u64>,
    },
    /// Append to the approval ledger.
    AppendApproval(ApprovalRecord),
    /// Append a changelog entry.
    AppendChangelog(ChangelogRecord),
    /// Place or replace a hold.
    PutHold {
        /// The environment.
        environment: String,
        /// The hold.
        hold: Hold,
    },
    /// Lift a hold.
    RemoveHold {
        /// The environment.
        environment: String,
    },
    /// Raise a record (see [`records`](super::records)): kept unless the stored one ranks at
    /// least as high. Never a conflict.
    RaiseRecord {
        /// The record's key.
        key: String,
        /// The record.
        record: super::records::Record,
    },
    /// Claim or update an application's version in an environment.
    PutEnvVersion {
        /// The new value; its `revision` is `expected_revision + 1` (or 1 when created).
        value: EnvVersion,
        /// The revision read, or `None` when there was none.
        expected_revision: Option<u64>,
    },
}

/// Why a decision's writes could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A deployment or environment version changed since it was read (or already exists).
    #[error("conflict on {0}: it changed since it was read")]
    Conflict(String),
}

impl State {
    /// Applies a decision's writes, all or nothing, checking every revision. This is the
    /// reference semantics every `Store` adapter must implement.
    ///
    /// # Errors
    /// [`ApplyError::Conflict`] when a revision does not match or a created deployment's id or
    /// dedup key exists; the state is then unchanged.
    pub fn apply(&mut self, writes: &[StateWrite]) -> Result<(), ApplyError> {
        self.check(writes)?;
        for write in writes {
            match write {
                StateWrite::PutDeployment { deployment, .. } => {
                    self.deployments
                        .insert(deployment.id.clone(), (**deployment).clone());
                }
                StateWrite::AppendApproval(a) => self.approvals.push(a.clone()),
                StateWrite::AppendChangelog(c) => self.changelogs.push(c.clone()),
                StateWrite::PutHold { environment, hold } => {
                    self.holds.insert(environment.clone(), hold.clone());
                }
                StateWrite::RemoveHold { environment } => {
                    self.holds.remove(environment);
                }
                StateWrite::PutEnvVersion { value, .. } => {
                    let key = super::model::env_key(&value.application, &value.environment);
                    self.env_versions.insert(key, value.clone());
                }
                StateWrite::RaiseRecord { key, record } => self.raise_record(key, record),
            }
        }
        Ok(())
    }

    /// Checks every revision a decision expects, without changing anything.
    ///
    /// # Errors
    /// [`ApplyError::Conflict`] naming the first mismatch.
    pub fn check(&self, writes: &[StateWrite]) -> Result<(), ApplyError> {
        for write in writes {
            match write {
                StateWrite::PutDeployment {
                    deployment,
                    expected_revision,
                } => {
                    let current = self.deployments.get(&deployment.id).map(|d| d.revision);
                    if current != *expected_revision {
                        return Err(ApplyError::Conflict(format!(
                            "deployment {}",
                            deployment.id
                        )));
                    }
                    if expected_revision.is_none()
                        && let Some(key) = &deployment.dedup_key
                        && self
                            .deployments
                            .values()
                            .any(|d| d.dedup_key.as_ref() == Some(key))
                    {
                        return Err(ApplyError::Conflict(format!("dedup key {key}")));
                    }
                }
                StateWrite::PutEnvVersion {
                    value,
                    expected_revision,
                } => {
                    let key = super::model::env_key(&value.application, &value.environment);
                    let current = self.env_versions.get(&key).map(|v| v.revision);
                    if current != *expected_revision {
                        return Err(ApplyError::Conflict(format!("environment version {key}")));
                    }
                }
                StateWrite::AppendApproval(a) => {
                    if self
                        .approvals
                        .iter()
                        .any(|x| x.deployment == a.deployment && x.approval_id == a.approval_id)
                    {
                        return Err(ApplyError::Conflict(format!(
                            "approval {} of {}",
                            a.approval_id, a.deployment
                        )));
                    }
                }
                StateWrite::AppendChangelog(_)
                | StateWrite::PutHold { .. }
                | StateWrite::RemoveHold { .. }
                | StateWrite::RaiseRecord { .. } => {}
            }
        }
        Ok(())
    }
}
