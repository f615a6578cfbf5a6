//! What a gate still needs, for the people who look at it: which groups may approve, how many
//! more approvals it waits for, who has approved, and whether a given person may act on it.
//!
//! The decision path counts approvals and judges approvers with the same functions
//! ([`counted_approvers`], [`approver_refusal`]), so what a page or the CLI shows is what a
//! decision would do.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Settings;
use super::model::{ApprovalAction, ApprovalRecord, Deployment, DeploymentId, StageStatus};
use super::rejection::Rejection;
use crate::manifest::{ApprovalPolicy, Catalog};

/// The canonical identities whose APPROVE counts toward `policy`'s quorum: stakeholders who
/// approved after the stage's last REJECT (`ledger` is the stage's rows, in ledger order).
#[must_use]
pub fn counted_approvers<'a>(
    catalog: &Catalog,
    policy: &ApprovalPolicy,
    ledger: impl IntoIterator<Item = &'a ApprovalRecord>,
) -> BTreeSet<String> {
    let stakeholders = catalog.stakeholders(policy);
    let mut approvers = BTreeSet::new();
    for row in ledger {
        match row.action {
            // A rejection halts the stage: approvals before it stop counting.
            ApprovalAction::Reject => approvers.clear(),
            ApprovalAction::Approve => {
                let who = catalog.identity(&row.actor);
                if stakeholders.contains(&who) {
                    approvers.insert(who);
                }
            }
            ApprovalAction::Cancel => {}
        }
    }
    approvers
}

/// Why `actor` may not give a verdict on stage `stage` of `d` under `policy`, or `None` when
/// they may: they must be a stakeholder, and not the change's author where the track forbids
/// authors to approve.
#[must_use]
pub fn approver_refusal(
    catalog: &Catalog,
    settings: &Settings,
    d: &Deployment,
    stage: usize,
    policy: &ApprovalPolicy,
    actor: &str,
) -> Option<Rejection> {
    let who = catalog.identity(actor);
    if !catalog.stakeholders(policy).contains(&who) {
        return Some(Rejection::NotAStakeholder {
            actor: actor.to_string(),
            deployment: d.id.clone(),
            stage,
        });
    }
    let track = catalog
        .application_sets
        .get(&d.application_set)
        .map(|s| s.release_track.as_str())
        .unwrap_or_default();
    let forbidden = settings.forbid_author_approval.iter().any(|t| t == track);
    if forbidden
        && d.authors
            .iter()
            .any(|author| catalog.identity(author) == who)
    {
        return Some(Rejection::AuthorMayNotApprove {
            actor: actor.to_string(),
        });
    }
    None
}

/// Whether a person may approve or reject a gate now, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "verdict", content = "reason")]
pub enum Viewer {
    /// They may approve or reject.
    May,
    /// They may not, for this reason (the refusal a decision would give).
    MayNot(String),
}

/// A gate that waits on people: the current stage of a deployment awaiting approval or
/// rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateNeeds {
    /// The deployment.
    pub deployment: DeploymentId,
    /// The gated stage.
    pub stage: usize,
    /// Its environments.
    pub environments: Vec<String>,
    /// The stage's status: `AWAITING_APPROVAL` or `REJECTED`.
    pub status: StageStatus,
    /// The stakeholder groups, as the track names them.
    pub groups: Vec<String>,
    /// How many distinct approvers the gate needs.
    pub min_approvals: u32,
    /// Who has approved so far (canonical identities; approvals before a rejection do not
    /// count).
    pub approved_by: Vec<String>,
    /// How many more approvals it needs.
    pub remaining: u32,
    /// Who rejected it, when the stage stands rejected.
    pub rejected_by: Option<String>,
    /// Whether the viewer, when one is named, may approve or reject.
    pub viewer: Option<Viewer>,
}

/// What the gate of `d`'s current stage still needs, when that stage waits on people
/// (AWAITING_APPROVAL or REJECTED). `ledger` holds `d`'s approval rows (any stages, ledger
/// order); `viewer` is the person looking, if any.
#[must_use]
pub fn gate_needs(
    catalog: &Catalog,
    settings: &Settings,
    d: &Deployment,
    ledger: &[ApprovalRecord],
    viewer: Option<&str>,
) -> Option<GateNeeds> {
    if d.status.is_final() {
        return None;
    }
    let stage = d.stage()?;
    if !matches!(
        stage.status,
        StageStatus::AwaitingApproval | StageStatus::Rejected
    ) {
        return None;
    }
    let policy = stage.approval.as_ref()?;
    let rows: Vec<&ApprovalRecord> = ledger
        .iter()
        .filter(|r| r.deployment == d.id && r.stage_index == stage.index)
        .collect();
    let approved = counted_approvers(catalog, policy, rows.iter().copied());
    let count = u32::try_from(approved.len()).unwrap_or(u32::MAX);
    let rejected_by = (stage.status == StageStatus::Rejected)
        .then(|| {
            rows.iter()
                .rev()
                .find(|r| r.action == ApprovalAction::Reject)
                .map(|r| r.actor.clone())
        })
        .flatten();
    Some(GateNeeds {
        deployment: d.id.clone(),
        stage: stage.index,
        environments: stage.environments.clone(),
        status: stage.status,
        groups: policy.groups.clone(),
        min_approvals: policy.min_approvals,
        remaining: policy.min_approvals.saturating_sub(count),
        approved_by: approved.into_iter().collect(),
        rejected_by,
        viewer: viewer.map(|who| {
            match approver_refusal(catalog, settings, d, stage.index, policy, who) {
                None => Viewer::May,
                Some(refusal) => Viewer::MayNot(refusal.to_string()),
            }
        }),
    })
}

/// The gate of `d` when it waits on `person`: they may answer it and have not approved it yet
/// (since the last rejection). What an approvals inbox lists.
#[must_use]
pub fn awaits(
    catalog: &Catalog,
    settings: &Settings,
    d: &Deployment,
    ledger: &[ApprovalRecord],
    person: &str,
) -> Option<GateNeeds> {
    let needs = gate_needs(catalog, settings, d, ledger, Some(person))?;
    let who = catalog.identity(person);
    (needs.viewer == Some(Viewer::May) && !needs.approved_by.contains(&who)).then_some(needs)
}
