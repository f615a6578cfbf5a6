//! The reads of a decision and of the API: deployments, their ledger rows, holds and the
//! versions in each environment, over read-only and read-write transactions alike.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use cd_core::pipeline::{
    ApprovalRecord, ChangelogRecord, Deployment, DeploymentId, EnvVersion, Hold, Reads, Record,
    State, Timestamp,
};
use cd_ports::{DeploymentFilter, DeploymentView, StoreError};
use google_cloud_spanner::statement::Statement;
use google_cloud_spanner::transaction::Transaction;

use crate::rows::{approval_of, changelog_of, decode, env_version_of, hold_of};
use crate::{corrupt, int, unavailable};

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
    These(Vec<String>),
    One(&'a str),
}

pub(crate) fn ledger_query(select: &str, table: &str, of: &Of<'_>) -> Statement {
    let clause = match of {
        Of::These(_) => "WHERE DeploymentID IN UNNEST(@ids)",
        Of::One(_) => "WHERE DeploymentID = @id",
    };
    let mut stmt = Statement::new(format!(
        "SELECT {select} FROM {table} {clause} ORDER BY DeploymentID, Position"
    ));
    match of {
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

/// Deployment bodies of `stmt`, added to `out`.
async fn bodies(
    tx: &mut impl Queries,
    stmt: Statement,
    out: &mut BTreeMap<DeploymentId, Deployment>,
) -> Result<(), StoreError> {
    for row in tx.rows(stmt).await? {
        let body: String = row.column_by_name("Body").map_err(corrupt)?;
        let d = decode(&body)?;
        out.insert(d.id.clone(), d);
    }
    Ok(())
}

/// Both deployment tables.
const BOTH: [&str; 2] = ["PreReleaseDeployments", "ReleaseDeployments"];

/// Loads what `reads` names; every query is answered by an index (schema migration 2).
pub(crate) async fn load(tx: &mut impl Queries, reads: &Reads) -> Result<State, StoreError> {
    let mut found = BTreeMap::new();
    let query = |table: &str, clause: &str| {
        Statement::new(format!("SELECT Body FROM {table} WHERE {clause}"))
    };
    if reads.all_open || !reads.open_sets.is_empty() {
        for table in BOTH {
            let stmt = if reads.all_open {
                query(table, "OpenSet IS NOT NULL")
            } else {
                let mut stmt = query(table, "OpenSet IN UNNEST(@sets)");
                let sets: Vec<String> = reads.open_sets.iter().cloned().collect();
                stmt.add_param("sets", &sets);
                stmt
            };
            bodies(tx, stmt, &mut found).await?;
        }
    }
    if !reads.deployments.is_empty() {
        let ids: Vec<String> = reads.deployments.iter().map(|d| d.0.clone()).collect();
        for table in BOTH {
            let mut stmt = query(table, "DeploymentID IN UNNEST(@ids)");
            stmt.add_param("ids", &ids);
            bodies(tx, stmt, &mut found).await?;
        }
    }
    if !reads.dedup_keys.is_empty() {
        let keys: Vec<String> = reads.dedup_keys.iter().cloned().collect();
        let mut stmt = query(BOTH[0], "DedupKey IN UNNEST(@keys)");
        stmt.add_param("keys", &keys);
        bodies(tx, stmt, &mut found).await?;
    }
    for (app, version) in &reads.builds {
        let mut stmt = query(
            BOTH[0],
            "Application = @app AND Version = @version AND Track = 'PRERELEASE'",
        );
        stmt.add_param("app", app);
        stmt.add_param("version", version);
        bodies(tx, stmt, &mut found).await?;
    }
    for (set, bundle) in &reads.bundles {
        let mut stmt = query(BOTH[1], "ApplicationSet = @set AND Bundle = @bundle");
        stmt.add_param("set", set);
        stmt.add_param("bundle", bundle);
        bodies(tx, stmt, &mut found).await?;
    }
    for r in &reads.ranges {
        let mut stmt = query(
            BOTH[0],
            "Application = @app AND VersionKey > @after AND VersionKey <= @upto AND Track = 'PRERELEASE'",
        );
        stmt.add_param("app", &r.application);
        // No lower bound: every key is above the empty string.
        stmt.add_param("after", &r.after.clone().unwrap_or_default());
        stmt.add_param("upto", &r.up_to);
        bodies(tx, stmt, &mut found).await?;
    }
    let mut state = State {
        holds: holds(tx).await?,
        env_versions: env_versions(tx).await?,
        ..State::default()
    };
    if !found.is_empty() {
        let of = Of::These(found.keys().map(|d| d.0.clone()).collect());
        state.approvals = approvals(tx, &of).await?;
        state.changelogs = changelogs(tx, &of).await?;
    }
    state.deployments = found;
    if !reads.records.is_empty() {
        let keys: Vec<String> = reads.records.iter().cloned().collect();
        let mut stmt =
            Statement::new("SELECT Key, Rank, Body FROM Records WHERE Key IN UNNEST(@keys)");
        stmt.add_param("keys", &keys);
        for row in tx.rows(stmt).await? {
            let key: String = row.column_by_name("Key").map_err(corrupt)?;
            let rank: String = row.column_by_name("Rank").map_err(corrupt)?;
            let body: String = row.column_by_name("Body").map_err(corrupt)?;
            let value = serde_json::from_str(&body).map_err(corrupt)?;
            state.records.insert(key, Record { rank, value });
        }
    }
    Ok(state)
}

/// The open deployments waiting on people, over the `Open` indexes, with the ledger and
/// changelog of those found only (never holds, environment versions or the history).
pub(crate) async fn waiting_on_people(
    tx: &mut impl Queries,
) -> Result<Vec<DeploymentView>, StoreError> {
    let mut found = BTreeMap::new();
    for table in BOTH {
        let stmt = Statement::new(format!(
            "SELECT Body FROM {table} WHERE OpenSet IS NOT NULL \
             AND Status IN ('AWAITING_APPROVAL', 'REJECTED')"
        ));
        bodies(tx, stmt, &mut found).await?;
    }
    let mut state = State::default();
    if !found.is_empty() {
        let of = Of::These(found.keys().map(|d| d.0.clone()).collect());
        state.approvals = approvals(tx, &of).await?;
        state.changelogs = changelogs(tx, &of).await?;
    }
    state.deployments = found;
    Ok(cd_ports::waiting_on_people(&state))
}

/// When each wanted build's change was made, over the `ByBuild` index in one query that takes
/// the commit time out of each body in Spanner and answers only the times (no ledger, no body
/// sent or decoded here).
pub(crate) async fn change_times(
    tx: &mut impl Queries,
    builds: &BTreeSet<(String, String)>,
) -> Result<BTreeMap<(String, String), Timestamp>, StoreError> {
    if builds.is_empty() {
        return Ok(BTreeMap::new());
    }
    // Applications × versions is a superset of the wanted pairs; the others are dropped below.
    let apps: BTreeSet<&String> = builds.iter().map(|(a, _)| a).collect();
    let versions: BTreeSet<&String> = builds.iter().map(|(_, v)| v).collect();
    let mut stmt = Statement::new(
        "SELECT Application, Version, \
           MIN(COALESCE(CAST(JSON_VALUE(Body, '$.build.committedAt') AS INT64), CreatedAt)) AS ChangedAt \
         FROM PreReleaseDeployments \
         WHERE Application IN UNNEST(@apps) AND Version IN UNNEST(@versions) \
           AND Track = 'PRERELEASE' \
         GROUP BY Application, Version",
    );
    stmt.add_param("apps", &apps.into_iter().cloned().collect::<Vec<String>>());
    stmt.add_param(
        "versions",
        &versions.into_iter().cloned().collect::<Vec<String>>(),
    );
    let mut out = BTreeMap::new();
    for row in tx.rows(stmt).await? {
        let build: (String, String) = (
            row.column_by_name("Application").map_err(corrupt)?,
            row.column_by_name("Version").map_err(corrupt)?,
        );
        let at: i64 = row.column_by_name("ChangedAt").map_err(corrupt)?;
        if builds.contains(&build) {
            out.insert(build, Timestamp(at));
        }
    }
    Ok(out)
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

/// One page of each table's deployments passing `filter`, newest first (the caller merges).
pub(crate) async fn newest(
    tx: &mut impl Queries,
    filter: &DeploymentFilter,
) -> Result<Vec<Deployment>, StoreError> {
    let mut out = Vec::new();
    for (table, release) in filter.tables() {
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
        if filter.application.is_some() {
            clauses.push(if release {
                "DeploymentID IN (SELECT DeploymentID FROM ReleaseBundleApps WHERE AppName = @app)"
            } else {
                "Application = @app"
            });
        }
        if filter.after.is_some() {
            clauses.push(
                "(CreatedAt < @at OR (CreatedAt = @at AND (Sequence < @seq OR (Sequence = @seq AND DeploymentID < @id))))",
            );
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
        if let Some(app) = &filter.application {
            stmt.add_param("app", app);
        }
        if let Some(c) = &filter.after {
            stmt.add_param("at", &c.created_at.0);
            stmt.add_param("seq", &int(c.sequence)?);
            stmt.add_param("id", &c.id.0);
        }
        stmt.add_param("n", &int(filter.page())?);
        for row in tx.rows(stmt).await? {
            let body: String = row.column_by_name("Body").map_err(corrupt)?;
            out.push(decode(&body)?);
        }
    }
    Ok(out)
}
