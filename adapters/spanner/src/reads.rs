//! The reads of a decision and of the API: deployments, their ledger rows, holds and the
//! versions in each environment, over read-only and read-write transactions alike.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cd_core::pipeline::{
    ApprovalRecord, ChangelogRecord, Deployment, DeploymentTrack, EnvVersion, Hold,
};
use cd_ports::{DeploymentFilter, StoreError};
use google_cloud_spanner::statement::Statement;
use google_cloud_spanner::transaction::Transaction;

use crate::rows::{approval_of, changelog_of, decode, env_version_of, hold_of};
use crate::{SpannerStore, corrupt, int, unavailable};

/// The queries this adapter runs, over read-only and read-write transactions alike.
#[async_trait]
pub(crate) trait Queries: Send {
    async fn rows(
        &mut self,
        stmt: Statement,
    ) -> Result<Vec<google_cloud_spanner::row::Row>, StoreError>;
}

#[async_trait]
impl<T: std::ops::DerefMut<Target = Transaction> + Send> Queries for T {
    async fn rows(
        &mut self,
        stmt: Statement,
    ) -> Result<Vec<google_cloud_spanner::row::Row>, StoreError> {
        let mut it = self.query(stmt).await.map_err(unavailable)?;
        let mut out = Vec::new();
        while let Some(row) = it.next().await.map_err(unavailable)? {
            out.push(row);
        }
        Ok(out)
    }
}

/// Which deployments' ledger rows to read.
pub(crate) enum Of<'a> {
    All,
    These(Vec<String>),
    One(&'a str),
}

pub(crate) fn ledger_query(select: &str, table: &str, of: &Of<'_>) -> Statement {
    let clause = match of {
        Of::All => "",
        Of::These(_) => "WHERE DeploymentID IN UNNEST(@ids)",
        Of::One(_) => "WHERE DeploymentID = @id",
    };
    let mut stmt = Statement::new(format!(
        "SELECT {select} FROM {table} {clause} ORDER BY DeploymentID, Position"
    ));
    match of {
        Of::All => {}
        Of::These(ids) => stmt.add_param("ids", ids),
        Of::One(id) => stmt.add_param("id", id),
    }
    stmt
}

pub(crate) async fn approvals(
    tx: &mut impl Queries,
    of: &Of<'_>,
) -> Result<Vec<ApprovalRecord>, StoreError> {
    let stmt = ledger_query(
        "DeploymentID, ApprovalID, StageIndex, Actor, Action, Timestamp, Comment",
        "DeploymentApprovals",
        of,
    );
    tx.rows(stmt).await?.iter().map(approval_of).collect()
}

pub(crate) async fn changelogs(
    tx: &mut impl Queries,
    of: &Of<'_>,
) -> Result<Vec<ChangelogRecord>, StoreError> {
    let stmt = ledger_query(
        "DeploymentID, ChangelogID, Body",
        "DeploymentChangelogs",
        of,
    );
    tx.rows(stmt).await?.iter().map(changelog_of).collect()
}

pub(crate) async fn holds(tx: &mut impl Queries) -> Result<BTreeMap<String, Hold>, StoreError> {
    tx.rows(Statement::new(
        "SELECT Environment, Reason, Actor, PlacedAt FROM Holds",
    ))
    .await?
    .iter()
    .map(hold_of)
    .collect()
}

pub(crate) async fn env_versions(
    tx: &mut impl Queries,
) -> Result<BTreeMap<String, EnvVersion>, StoreError> {
    tx.rows(Statement::new(
        "SELECT Application, Environment, Version, Previous, DeploymentID, Track, InFlight, Revision FROM EnvironmentVersions",
    ))
    .await?
    .iter()
    .map(env_version_of)
    .collect()
}

pub(crate) async fn set_of(tx: &mut impl Queries, id: &str) -> Result<Option<String>, StoreError> {
    for table in ["PreReleaseDeployments", "ReleaseDeployments"] {
        let mut stmt = Statement::new(format!(
            "SELECT ApplicationSet FROM {table} WHERE DeploymentID = @id"
        ));
        stmt.add_param("id", &id);
        if let Some(row) = tx.rows(stmt).await?.first() {
            return Ok(Some(row.column_by_name("ApplicationSet").map_err(corrupt)?));
        }
    }
    Ok(None)
}

pub(crate) async fn deployment_by_id(
    tx: &mut impl Queries,
    id: &str,
) -> Result<Option<Deployment>, StoreError> {
    for table in ["PreReleaseDeployments", "ReleaseDeployments"] {
        let mut stmt = Statement::new(format!("SELECT Body FROM {table} WHERE DeploymentID = @id"));
        stmt.add_param("id", &id);
        if let Some(row) = tx.rows(stmt).await?.first() {
            let body: String = row.column_by_name("Body").map_err(corrupt)?;
            return Ok(Some(decode(&body)?));
        }
    }
    Ok(None)
}

/// The newest `filter.limit` deployments of each table that pass the set, track and status
/// filters.
pub(crate) async fn newest(
    tx: &mut impl Queries,
    filter: &DeploymentFilter,
) -> Result<Vec<Deployment>, StoreError> {
    let mut out = Vec::new();
    for (table, release) in [
        ("PreReleaseDeployments", false),
        ("ReleaseDeployments", true),
    ] {
        match filter.track {
            Some(DeploymentTrack::Release) if !release => continue,
            Some(t) if release && t != DeploymentTrack::Release => continue,
            _ => {}
        }
        let mut clauses = Vec::new();
        if filter.application_set.is_some() {
            clauses.push("ApplicationSet = @set");
        }
        if filter.status.is_some() {
            clauses.push("Status = @status");
        }
        if filter.track.is_some() && !release {
            clauses.push("Track = @track");
        }
        let clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let mut stmt = Statement::new(format!(
            "SELECT Body FROM {table} {clause} ORDER BY CreatedAt DESC, Sequence DESC, DeploymentID DESC LIMIT @n"
        ));
        if let Some(set) = &filter.application_set {
            stmt.add_param("set", set);
        }
        if let Some(status) = filter.status {
            stmt.add_param("status", &status.as_str());
        }
        if let Some(track) = filter.track {
            stmt.add_param("track", &track.as_str());
        }
        stmt.add_param("n", &int(filter.limit)?);
        for row in tx.rows(stmt).await? {
            let body: String = row.column_by_name("Body").map_err(corrupt)?;
            out.push(decode(&body)?);
        }
    }
    Ok(out)
}

impl SpannerStore {
    pub(crate) async fn query_bodies(
        tx: &mut impl Queries,
        set: Option<&str>,
    ) -> Result<Vec<Deployment>, StoreError> {
        let mut out = Vec::new();
        for table in ["PreReleaseDeployments", "ReleaseDeployments"] {
            let mut stmt = match set {
                None => Statement::new(format!("SELECT Body FROM {table}")),
                Some(_) => Statement::new(format!(
                    "SELECT Body FROM {table} WHERE ApplicationSet = @set"
                )),
            };
            if let Some(s) = set {
                stmt.add_param("set", &s);
            }
            for row in tx.rows(stmt).await? {
                let body: String = row.column_by_name("Body").map_err(corrupt)?;
                out.push(decode(&body)?);
            }
        }
        Ok(out)
    }
}
