//! `Store`: where the pipeline's state lives.

use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};

use cd_core::pipeline::{
    ApprovalRecord, ChangelogRecord, Deployment, DeploymentId, DeploymentStatus, DeploymentTrack,
    Hold, Reads, State, StateWrite, Timestamp,
};
use serde::{Deserialize, Serialize};

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A revision did not match, a created deployment's id or dedup key exists, or an approval
    /// id is taken: nothing was written. The driver reloads and decides again.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store cannot be reached or timed out; nothing is known to be written. Retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data cannot be read back (a bug or a manual edit).
    #[error("corrupt store: {0}")]
    Corrupt(String),
}

/// A deployment with its ledger and changelog, for the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentView {
    /// The deployment, with stages and bundle apps.
    pub deployment: Deployment,
    /// Its approvals, in ledger order.
    pub approvals: Vec<ApprovalRecord>,
    /// Its changelog entries.
    pub changelog: Vec<ChangelogRecord>,
}

impl DeploymentView {
    /// Deployment `id` of a whole `state`, with its approvals and changelog: what a store that
    /// keeps a `State` answers to [`Store::deployment`].
    #[must_use]
    pub fn of(state: &State, id: &DeploymentId) -> Option<DeploymentView> {
        state.deployments.get(id).map(|d| DeploymentView {
            deployment: d.clone(),
            approvals: state
                .approvals
                .iter()
                .filter(|a| a.deployment == *id)
                .cloned()
                .collect(),
            changelog: state
                .changelogs
                .iter()
                .filter(|c| c.deployment == *id)
                .cloned()
                .collect(),
        })
    }
}

/// Whether `d` waits on people: not final, its status AWAITING_APPROVAL or REJECTED.
#[must_use]
pub fn waits_on_people(d: &Deployment) -> bool {
    matches!(
        d.status,
        DeploymentStatus::AwaitingApproval | DeploymentStatus::Rejected
    )
}

/// The deployments of `state` that [wait on people](waits_on_people), each with its ledger
/// and changelog, newest first (creation time, sequence, id): the reference semantics of
/// [`Store::waiting_on_people`].
#[must_use]
pub fn waiting_on_people(state: &State) -> Vec<DeploymentView> {
    let mut waiting: Vec<&Deployment> = state
        .deployments
        .values()
        .filter(|d| waits_on_people(d))
        .collect();
    waiting
        .sort_by(|a, b| (b.created_at, b.sequence, &b.id).cmp(&(a.created_at, a.sequence, &a.id)));
    waiting
        .into_iter()
        .filter_map(|d| DeploymentView::of(state, &d.id))
        .collect()
}

/// When each build's change was made, from its PreRelease deployments: the reference
/// semantics of [`Store::change_times`].
pub fn change_times<'a>(
    deployments: impl IntoIterator<Item = &'a Deployment>,
) -> BTreeMap<(String, String), Timestamp> {
    let mut out: BTreeMap<(String, String), Timestamp> = BTreeMap::new();
    for d in deployments {
        let (DeploymentTrack::PreRelease, Some(app)) = (d.track, &d.application) else {
            continue;
        };
        let at = d
            .build
            .as_ref()
            .and_then(|b| b.committed_at)
            .unwrap_or(d.created_at);
        out.entry((app.clone(), d.version.clone()))
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }
    out
}

/// The most deployments one page of a listing holds: a listing is read page by page over an
/// index, never whole.
pub const MAX_PAGE: usize = 500;

/// Where a page of a listing ended: the creation time, sequence and id of its last deployment.
/// The next page starts strictly after it, in the listing order (newest first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCursor {
    /// The last deployment's creation time.
    pub created_at: Timestamp,
    /// Its sequence.
    pub sequence: u64,
    /// Its id.
    pub id: DeploymentId,
}

impl ListCursor {
    /// The cursor after `d`.
    #[must_use]
    pub fn after(d: &Deployment) -> Self {
        ListCursor {
            created_at: d.created_at,
            sequence: d.sequence,
            id: d.id.clone(),
        }
    }

    /// `<created_at>.<sequence>.<id>`, as the API hands it out.
    ///
    /// ```
    /// use cd_core::pipeline::{DeploymentId, Timestamp};
    /// use cd_ports::ListCursor;
    ///
    /// let c = ListCursor { created_at: Timestamp(1_700), sequence: 4, id: DeploymentId("d.9".into()) };
    /// assert_eq!(c.encode(), "1700.4.d.9");
    /// assert_eq!(ListCursor::parse("1700.4.d.9"), Some(c));
    /// assert_eq!(ListCursor::parse("yesterday"), None);
    /// ```
    #[must_use]
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.created_at.0, self.sequence, self.id)
    }

    /// The cursor [`ListCursor::encode`] wrote, or `None` for anything else.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '.');
        let created_at = parts.next()?.parse().ok()?;
        let sequence = parts.next()?.parse().ok()?;
        let id = parts.next().filter(|id| !id.is_empty())?;
        Some(ListCursor {
            created_at: Timestamp(created_at),
            sequence,
            id: DeploymentId(id.to_string()),
        })
    }

    /// Whether `d` comes after this cursor, newest first.
    #[must_use]
    pub fn precedes(&self, d: &Deployment) -> bool {
        (d.created_at, d.sequence, &d.id) < (self.created_at, self.sequence, &self.id)
    }
}

/// Which deployments to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentFilter {
    /// Only this application set.
    pub application_set: Option<String>,
    /// Only deployments of this application (or bundles containing it).
    pub application: Option<String>,
    /// Only this track.
    pub track: Option<DeploymentTrack>,
    /// Only this status.
    pub status: Option<DeploymentStatus>,
    /// At most this many, newest first (0, or more than [`MAX_PAGE`]: [`MAX_PAGE`]).
    pub limit: usize,
    /// Only those after this cursor (the next page).
    pub after: Option<ListCursor>,
}

impl DeploymentFilter {
    /// Whether `d` passes the filter (limit aside).
    #[must_use]
    pub fn matches(&self, d: &Deployment) -> bool {
        self.application_set
            .as_ref()
            .is_none_or(|s| *s == d.application_set)
            && self
                .application
                .as_ref()
                .is_none_or(|a| d.application.as_ref() == Some(a) || d.apps.contains_key(a))
            && self.track.is_none_or(|t| t == d.track)
            && self.status.is_none_or(|s| s == d.status)
            && self.after.as_ref().is_none_or(|c| c.precedes(d))
    }

    /// The deployment tables that can hold what this filter passes, each with whether it is the
    /// releases' table (release deployments live in a table of their own; see
    /// [`deployment_tables`]): what a store's listing reads.
    #[must_use]
    pub fn tables(&self) -> Vec<(&'static str, bool)> {
        let release = deployment_tables(DeploymentTrack::Release).0;
        let others = deployment_tables(DeploymentTrack::PreRelease).0;
        match self.track {
            None => vec![(others, false), (release, true)],
            Some(DeploymentTrack::Release) => vec![(release, true)],
            Some(_) => vec![(others, false)],
        }
    }

    /// The page size: `limit`, at most [`MAX_PAGE`].
    #[must_use]
    pub fn page(&self) -> usize {
        if self.limit == 0 {
            MAX_PAGE
        } else {
            self.limit.min(MAX_PAGE)
        }
    }

    /// The deployments of `candidates` that pass the filter, newest first (creation time, then
    /// sequence, then id), at most [`page`](DeploymentFilter::page) of them: the order every
    /// store lists in, and the reference semantics of [`Store::list`].
    #[must_use]
    pub fn select(&self, candidates: impl IntoIterator<Item = Deployment>) -> Vec<Deployment> {
        let mut list: Vec<Deployment> =
            candidates.into_iter().filter(|d| self.matches(d)).collect();
        list.sort_by(|a, b| {
            (b.created_at, b.sequence, &b.id).cmp(&(a.created_at, a.sequence, &a.id))
        });
        list.truncate(self.page());
        list
    }
}

/// The pipeline's state: deployments with their stages, bundle apps and outboxes, the approval
/// ledger, changelogs, holds and environment versions (`cd_core::pipeline::State`).
///
/// An adapter proves itself with the contract suite (`cd-contract`); the in-memory store is
/// the reference:
///
/// ```
/// use cd_core::pipeline::{Hold, Reads, StateWrite, Timestamp};
/// use cd_ports::{Store, StoreError};
///
/// # futures_executor::block_on(async {
/// let store = cd_memory::MemoryStore::new();
/// let hold = Hold { reason: "freeze".into(), actor: "jane".into(), at: Timestamp(0) };
/// store.apply(&[StateWrite::PutHold { environment: "production".into(), hold }]).await?;
/// assert!(store.load(&Reads::default()).await?.holds.contains_key("production"));
/// # Ok::<(), StoreError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Loads what `reads` names, in one consistent read (see `State::select`, the reference
    /// semantics): the open deployments of its sets, the deployments it names by id, dedup
    /// key, build, bundle or version range, with their approvals and changelogs; the records
    /// it names; every hold and environment version. Each is answered by an index: the cost of
    /// a load does not grow with the finished deployments the store holds.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be read; [`StoreError::Corrupt`] when
    /// stored data does not decode.
    async fn load(&self, reads: &Reads) -> Result<State, StoreError>;

    /// Applies a decision's writes atomically: all or nothing, and only if every revision the
    /// writes expect is the stored one (see `State::apply`, the reference semantics). Approvals
    /// are only ever appended.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (nothing written) when a revision differs, a created deployment's
    /// id or dedup key exists, or an approval id is taken; [`StoreError::Unavailable`] when the
    /// outcome is unknown or nothing was written for a transient reason.
    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError>;

    /// One deployment with its approvals and changelog.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`], [`StoreError::Corrupt`].
    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentView>, StoreError>;

    /// One page of the deployments passing `filter`, newest first (see
    /// [`DeploymentFilter::select`]), read over an index: never the whole history.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`], [`StoreError::Corrupt`].
    async fn list(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError>;

    /// The holds in force, by environment: what the holds page and `GET /v1/holds` read.
    ///
    /// The default reads them with an empty [`Store::load`] (holds and environment versions,
    /// nothing of the history); a store with a cheaper query overrides it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`], [`StoreError::Corrupt`].
    async fn holds(&self) -> Result<BTreeMap<String, Hold>, StoreError> {
        Ok(self.load(&Reads::default()).await?.holds)
    }

    /// The deployments whose current stage waits on people (status AWAITING_APPROVAL or
    /// REJECTED), each with its ledger and changelog, newest first: what an approvals inbox
    /// reads. Such deployments are open, so this reads the open ones (an index), never the
    /// history.
    ///
    /// The default filters [`Store::load`] of every open deployment; a store with a cheaper
    /// query overrides it (the contract checks both answer alike).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`], [`StoreError::Corrupt`].
    async fn waiting_on_people(&self) -> Result<Vec<DeploymentView>, StoreError> {
        let state = self
            .load(&Reads {
                all_open: true,
                ..Reads::default()
            })
            .await?;
        Ok(waiting_on_people(&state))
    }

    /// When the change each of these (application, version) builds carries was made: the
    /// build's commit time when CI sent it, else when its PreRelease deployment was created
    /// (the earliest, when a build was notified twice). What the lead time for changes starts
    /// from; builds the store does not hold are left out.
    ///
    /// The default reads the builds' deployments with [`Store::load`]; a store with a cheaper
    /// query (one that reads neither bodies nor ledgers) overrides it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`], [`StoreError::Corrupt`].
    async fn change_times(
        &self,
        builds: &BTreeSet<(String, String)>,
    ) -> Result<BTreeMap<(String, String), Timestamp>, StoreError> {
        if builds.is_empty() {
            return Ok(BTreeMap::new());
        }
        let state = self
            .load(&Reads {
                builds: builds.clone(),
                ..Reads::default()
            })
            .await?;
        Ok(change_times(state.deployments.values()))
    }

    /// Whether the store can take a decision now: it answers, and it can be written. Readiness
    /// probes call it, so it is quick (a store that would wait for a lock says so instead) and
    /// changes nothing.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] saying what is wrong.
    async fn ready(&self) -> Result<(), StoreError>;
}

/// The seed's tables for a deployment of `track`: (deployments, stages). Both stores keep the
/// seed's data model, in which release deployments and every other track live in tables of
/// their own.
#[must_use]
pub fn deployment_tables(track: DeploymentTrack) -> (&'static str, &'static str) {
    match track {
        DeploymentTrack::Release => ("ReleaseDeployments", "ReleaseStages"),
        _ => ("PreReleaseDeployments", "PreReleaseStages"),
    }
}
