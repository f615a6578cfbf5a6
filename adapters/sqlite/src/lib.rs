//! `cd-sqlite`: the pipeline's `Store` on SQLite, the embedded default.
//!
//! SQLite is built in (`rusqlite` with `bundled`), so nothing is needed on the machine. The
//! database runs in WAL mode, with `synchronous = FULL` unless told otherwise (see
//! [`Durability`]): a decision acknowledged is on disk. Every decision is applied in one
//! `BEGIN IMMEDIATE` transaction that checks revisions, so several processes can share one
//! database file safely: writers serialize on SQLite's lock, and a writer whose revisions are
//! stale gets `Conflict`. Calls block briefly on the calling thread (a local file,
//! milliseconds), which keeps the adapter runtime-agnostic.

#![deny(missing_docs)]

mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, ChangelogRecord, Deployment, DeploymentId, DeploymentTrack,
    EnvVersion, Hold, Reads, Record, State, StateWrite, Timestamp, env_key, records_of,
};
use cd_core::version::order_key;
use cd_ports::{DeploymentFilter, DeploymentView, Store, StoreError, deployment_tables};
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior, params};

/// How long a writer waits for another process's transaction before reporting `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a readiness probe waits for the write lock.
const READY_WAIT: Duration = Duration::from_millis(500);

/// When a committed transaction reaches the disk: SQLite's `synchronous` setting in WAL mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `FULL`: every commit is synced to disk before it returns, so a decision the API
    /// acknowledged (an approval, a release request) survives a power loss. The default.
    #[default]
    Full,
    /// `NORMAL`: commits are synced at checkpoints only. Faster; the database stays consistent
    /// after a power loss, but the last commits before it can be lost although acknowledged.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// The `Store` on a SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => unavailable(e),
        Some(ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::DiskFull) => {
            unavailable(e)
        }
        _ => StoreError::Corrupt(e.to_string()),
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with [`Durability::Full`] and applies
    /// pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened; [`StoreError::Corrupt`] when
    /// it is not a database of ours or a migration fails.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        SqliteStore::open_with(path, Durability::Full)
    }

    /// Opens the database at `path` with `durability`.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(map_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(map_err)?;
        conn.pragma_update(None, "synchronous", durability.pragma())
            .map_err(map_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(map_err)?;
        migrate(&mut conn)?;
        backfill(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `synchronous` setting in force, as SQLite reports it (0 off, 1 normal, 2 full).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn synchronous(&self) -> Result<i64, StoreError> {
        self.with(|conn| {
            conn.pragma_query_value(None, "synchronous", |r| r.get(0))
                .map_err(map_err)
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Corrupt("connection lock poisoned".into()))?;
        f(&mut conn)
    }
}

/// Applies every migration newer than the database's `user_version`, each in a transaction.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .map_err(map_err)?
        .try_into()
        .map_err(corrupt)?;
    if applied > schema::MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {applied} is newer than this program ({})",
            schema::MIGRATIONS.len()
        )));
    }
    for (n, sql) in schema::MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        tx.execute_batch(sql).map_err(map_err)?;
        let version = i64::try_from(n + 1).map_err(corrupt)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(map_err)?;
        tx.commit().map_err(map_err)?;
    }
    Ok(())
}

/// Rows backfilled per transaction.
const BACKFILL_BATCH: usize = 500;

/// Derives `Open` and `VersionKey` for rows written before the columns existed, and raises the
/// records their deployments imply. Each batch is one transaction that updates its rows and
/// raises their records together, and raising is idempotent: a crash mid-way loses nothing,
/// and the next start carries on with the rows still missing their columns.
fn backfill(conn: &mut Connection) -> Result<(), StoreError> {
    for table in ["PreReleaseDeployments", "ReleaseDeployments"] {
        loop {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let bodies = query_all(
                &tx,
                &format!("SELECT Body FROM {table} WHERE Open IS NULL LIMIT {BACKFILL_BATCH}"),
                None,
                |r| r.get::<_, String>(0),
            )?;
            if bodies.is_empty() {
                break;
            }
            for text in &bodies {
                let d = decode(text)?;
                tx.execute(
                    &format!("UPDATE {table} SET Open = ?2 WHERE DeploymentID = ?1"),
                    params![d.id.0, d.is_open()],
                )
                .map_err(map_err)?;
                if d.track != DeploymentTrack::Release {
                    tx.execute(
                        "UPDATE PreReleaseDeployments SET VersionKey = ?2 WHERE DeploymentID = ?1",
                        params![d.id.0, order_key(&d.version)],
                    )
                    .map_err(map_err)?;
                }
                for (key, record) in records_of(&d) {
                    raise_record(&tx, &key, &record)?;
                }
            }
            tx.commit().map_err(map_err)?;
        }
    }
    Ok(())
}

/// Keeps `record` unless the stored one ranks at least as high.
fn raise_record(tx: &Transaction<'_>, key: &str, record: &Record) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO Records (Key, Rank, Body) VALUES (?1, ?2, ?3)
         ON CONFLICT (Key) DO UPDATE SET Rank = excluded.Rank, Body = excluded.Body
         WHERE excluded.Rank > Records.Rank",
        params![
            key,
            record.rank,
            serde_json::to_string(&record.value).map_err(corrupt)?
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

fn body(d: &Deployment) -> Result<String, StoreError> {
    serde_json::to_string(d).map_err(corrupt)
}

fn decode(text: &str) -> Result<Deployment, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}

fn put_deployment(
    tx: &Transaction<'_>,
    d: &Deployment,
    expected: Option<u64>,
) -> Result<(), StoreError> {
    let (_, stages) = deployment_tables(d.track);
    let revision = i64::try_from(d.revision).map_err(corrupt)?;
    let stage_index = i64::try_from(d.current_stage).map_err(corrupt)?;
    let sequence = i64::try_from(d.sequence).map_err(corrupt)?;
    let json = body(d)?;
    let written = match (d.track, expected) {
        (DeploymentTrack::Release, None) => tx.execute(
            "INSERT INTO ReleaseDeployments (DeploymentID, Revision, Status, ApplicationSet, Bundle, Version, StageIndex, LastDeployedVersions, Sequence, CreatedAt, UpdatedAt, Body, Open)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![d.id.0, revision, d.status.as_str(), d.application_set, d.bundle.clone().unwrap_or_default(), d.version, stage_index,
                serde_json::to_string(&d.last_deployed_versions).map_err(corrupt)?, sequence, d.created_at.0, d.updated_at.0, json, d.is_open()],
        ),
        (DeploymentTrack::Release, Some(exp)) => tx.execute(
            "UPDATE ReleaseDeployments SET Revision = ?2, Status = ?3, Version = ?4, StageIndex = ?5, LastDeployedVersions = ?6, UpdatedAt = ?7, Body = ?8, Open = ?10
             WHERE DeploymentID = ?1 AND Revision = ?9",
            params![d.id.0, revision, d.status.as_str(), d.version, stage_index,
                serde_json::to_string(&d.last_deployed_versions).map_err(corrupt)?, d.updated_at.0, json, i64::try_from(exp).map_err(corrupt)?, d.is_open()],
        ),
        (_, None) => tx.execute(
            "INSERT INTO PreReleaseDeployments (DeploymentID, Track, Revision, Status, ApplicationSet, Application, Version, StageIndex, BuildDefinition, DedupKey, Sequence, CreatedAt, UpdatedAt, Body, Open, VersionKey)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![d.id.0, d.track.as_str(), revision, d.status.as_str(), d.application_set, d.application.clone().unwrap_or_default(),
                d.version, stage_index, d.build.as_ref().map(|b| b.build_definition.clone()), d.dedup_key, sequence, d.created_at.0, d.updated_at.0, json,
                d.is_open(), order_key(&d.version)],
        ),
        (_, Some(exp)) => tx.execute(
            "UPDATE PreReleaseDeployments SET Revision = ?2, Status = ?3, Version = ?4, StageIndex = ?5, UpdatedAt = ?6, Body = ?7, Open = ?9, VersionKey = ?10
             WHERE DeploymentID = ?1 AND Revision = ?8",
            params![d.id.0, revision, d.status.as_str(), d.version, stage_index, d.updated_at.0, json, i64::try_from(exp).map_err(corrupt)?,
                d.is_open(), order_key(&d.version)],
        ),
    }
    .map_err(map_err)?;
    if written != 1 {
        return Err(StoreError::Conflict(format!(
            "deployment {} changed since it was read",
            d.id
        )));
    }
    tx.execute(
        &format!("DELETE FROM {stages} WHERE DeploymentID = ?1"),
        params![d.id.0],
    )
    .map_err(map_err)?;
    for s in &d.stages {
        tx.execute(
            &format!("INSERT INTO {stages} (DeploymentID, StageIndex, Environments, Status, CommitSha, RunID, StartedAt, FinishedAt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![d.id.0, i64::try_from(s.index).map_err(corrupt)?, s.environments.join(","), s.status.as_str(), s.commit_sha, s.run_id,
                s.started_at.map(|t| t.0), s.finished_at.map(|t| t.0)],
        )
        .map_err(map_err)?;
    }
    if d.track == DeploymentTrack::Release {
        tx.execute(
            "DELETE FROM ReleaseBundleApps WHERE DeploymentID = ?1",
            params![d.id.0],
        )
        .map_err(map_err)?;
        for (app, a) in &d.apps {
            tx.execute(
                "INSERT INTO ReleaseBundleApps (DeploymentID, AppName, Version, Image, BranchCommit, ProductionTag) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![d.id.0, app, a.version, a.image, a.branch_commit, a.production_tag],
            )
            .map_err(map_err)?;
        }
    }
    Ok(())
}

fn put_env_version(
    tx: &Transaction<'_>,
    v: &EnvVersion,
    expected: Option<u64>,
) -> Result<(), StoreError> {
    let revision = i64::try_from(v.revision).map_err(corrupt)?;
    let written = match expected {
        None => tx.execute(
            "INSERT INTO EnvironmentVersions (Application, Environment, Version, Previous, DeploymentID, Track, InFlight, Revision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![v.application, v.environment, v.version, v.previous, v.deployment.0, v.track.as_str(), v.in_flight, revision],
        ),
        Some(exp) => tx.execute(
            "UPDATE EnvironmentVersions SET Version = ?3, Previous = ?4, DeploymentID = ?5, Track = ?6, InFlight = ?7, Revision = ?8
             WHERE Application = ?1 AND Environment = ?2 AND Revision = ?9",
            params![v.application, v.environment, v.version, v.previous, v.deployment.0, v.track.as_str(), v.in_flight, revision,
                i64::try_from(exp).map_err(corrupt)?],
        ),
    }
    .map_err(map_err)?;
    if written == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "environment version {} changed since it was read",
            env_key(&v.application, &v.environment)
        )))
    }
}

fn apply(tx: &Transaction<'_>, writes: &[StateWrite]) -> Result<(), StoreError> {
    for w in writes {
        match w {
            StateWrite::PutDeployment {
                deployment,
                expected_revision,
            } => {
                put_deployment(tx, deployment, *expected_revision)?;
            }
            StateWrite::AppendApproval(a) => {
                tx.execute(
                    "INSERT INTO DeploymentApprovals (DeploymentID, ApprovalID, StageIndex, Actor, Action, Timestamp, Comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![a.deployment.0, a.approval_id, i64::try_from(a.stage_index).map_err(corrupt)?, a.actor, a.action.as_str(), a.at.0, a.comment],
                )
                .map_err(map_err)?;
            }
            StateWrite::AppendChangelog(c) => {
                tx.execute(
                    "INSERT INTO DeploymentChangelogs (DeploymentID, ChangelogID, Body) VALUES (?1, ?2, ?3)",
                    params![c.deployment.0, c.changelog_id, serde_json::to_string(&c.entry).map_err(corrupt)?],
                )
                .map_err(map_err)?;
            }
            StateWrite::PutHold { environment, hold } => {
                tx.execute(
                    "INSERT INTO Holds (Environment, Reason, Actor, At) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (Environment) DO UPDATE SET Reason = excluded.Reason, Actor = excluded.Actor, At = excluded.At",
                    params![environment, hold.reason, hold.actor, hold.at.0],
                )
                .map_err(map_err)?;
            }
            StateWrite::RemoveHold { environment } => {
                tx.execute(
                    "DELETE FROM Holds WHERE Environment = ?1",
                    params![environment],
                )
                .map_err(map_err)?;
            }
            StateWrite::PutEnvVersion {
                value,
                expected_revision,
            } => {
                put_env_version(tx, value, *expected_revision)?;
            }
            StateWrite::RaiseRecord { key, record } => raise_record(tx, key, record)?,
        }
    }
    Ok(())
}

/// Deployment bodies matching a WHERE clause over both deployment tables.
fn deployments_where(
    conn: &Connection,
    clause: &str,
    arg: Option<&str>,
) -> Result<Vec<Deployment>, StoreError> {
    let mut out = Vec::new();
    for table in ["PreReleaseDeployments", "ReleaseDeployments"] {
        let sql = format!("SELECT Body FROM {table} {clause}");
        let mut stmt = conn.prepare(&sql).map_err(map_err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(arg.iter()), |r| {
                r.get::<_, String>(0)
            })
            .map_err(map_err)?;
        for row in rows {
            out.push(decode(&row.map_err(map_err)?)?);
        }
    }
    Ok(out)
}

/// The rows of `sql` (with at most one `?` bound to `arg`), each read by `row`: the one place
/// the ledger tables are queried, whatever the clause.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    arg: Option<&str>,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(map_err)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(arg.iter()), row)
        .map_err(map_err)?;
    rows.collect::<rusqlite::Result<Vec<T>>>().map_err(map_err)
}

/// Approvals matching a WHERE clause, in append (rowid) order.
fn approvals_where(
    conn: &Connection,
    clause: &str,
    arg: Option<&str>,
) -> Result<Vec<ApprovalRecord>, StoreError> {
    let sql = format!(
        "SELECT DeploymentID, ApprovalID, StageIndex, Actor, Action, Timestamp, Comment FROM DeploymentApprovals {clause} ORDER BY rowid"
    );
    let rows = query_all(conn, &sql, arg, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    rows.into_iter()
        .map(
            |(deployment, approval_id, stage, actor, action, at, comment)| {
                Ok(ApprovalRecord {
                    deployment: DeploymentId(deployment),
                    approval_id,
                    stage_index: usize::try_from(stage).map_err(corrupt)?,
                    actor,
                    action: ApprovalAction::parse(&action)
                        .ok_or_else(|| corrupt(format!("unknown approval action {action}")))?,
                    comment,
                    at: Timestamp(at),
                })
            },
        )
        .collect()
}

/// Changelog entries matching a WHERE clause, in append (rowid) order.
fn changelogs_where(
    conn: &Connection,
    clause: &str,
    arg: Option<&str>,
) -> Result<Vec<ChangelogRecord>, StoreError> {
    let sql = format!(
        "SELECT DeploymentID, ChangelogID, Body FROM DeploymentChangelogs {clause} ORDER BY rowid"
    );
    let rows = query_all(conn, &sql, arg, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    rows.into_iter()
        .map(|(deployment, changelog_id, text)| {
            Ok(ChangelogRecord {
                deployment: DeploymentId(deployment),
                changelog_id,
                entry: serde_json::from_str(&text).map_err(corrupt)?,
            })
        })
        .collect()
}

fn holds(conn: &Connection) -> Result<BTreeMap<String, Hold>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT Environment, Reason, Actor, At FROM Holds")
        .map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Hold {
                    reason: r.get(1)?,
                    actor: r.get(2)?,
                    at: Timestamp(r.get(3)?),
                },
            ))
        })
        .map_err(map_err)?;
    rows.map(|r| r.map_err(map_err)).collect()
}

fn env_versions(conn: &Connection) -> Result<BTreeMap<String, EnvVersion>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT Application, Environment, Version, Previous, DeploymentID, Track, InFlight, Revision FROM EnvironmentVersions")
        .map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, bool>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })
        .map_err(map_err)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (application, environment, version, previous, deployment, track, in_flight, revision) =
            row.map_err(map_err)?;
        let track = DeploymentTrack::parse(&track)
            .ok_or_else(|| corrupt(format!("unknown track {track}")))?;
        out.insert(
            env_key(&application, &environment),
            EnvVersion {
                application,
                environment,
                version,
                previous,
                deployment: DeploymentId(deployment),
                track,
                in_flight,
                revision: u64::try_from(revision).map_err(corrupt)?,
            },
        );
    }
    Ok(out)
}

/// A JSON array of `items`, for `json_each`: one statement answers a whole key list.
fn json_list<T: serde::Serialize>(
    items: impl IntoIterator<Item = T>,
) -> Result<String, StoreError> {
    serde_json::to_string(&items.into_iter().collect::<Vec<T>>()).map_err(corrupt)
}

/// Deployment bodies of `table` matching `clause`, its one parameter bound to `arg`.
fn bodies(
    conn: &Connection,
    table: &str,
    clause: &str,
    args: &[&dyn rusqlite::ToSql],
    out: &mut BTreeMap<DeploymentId, Deployment>,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare(&format!("SELECT Body FROM {table} WHERE {clause}"))
        .map_err(map_err)?;
    let rows = stmt
        .query_map(args, |r| r.get::<_, String>(0))
        .map_err(map_err)?;
    for row in rows {
        let d = decode(&row.map_err(map_err)?)?;
        out.insert(d.id.clone(), d);
    }
    Ok(())
}

/// One page of each deployment table, newest first over the `Newest` indexes, merged.
fn list(conn: &mut Connection, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
    use rusqlite::types::Value;
    let tx = conn.transaction().map_err(map_err)?;
    let mut found = BTreeMap::new();
    for (table, release) in filter.tables() {
        let mut clauses = vec!["1 = 1".to_string()];
        let mut args: Vec<Value> = Vec::new();
        let mut arg = |clause: &str, value: Value, args: &mut Vec<Value>| {
            args.push(value);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(set) = &filter.application_set {
            arg("ApplicationSet = ?", Value::Text(set.clone()), &mut args);
        }
        if let Some(status) = filter.status {
            arg("Status = ?", Value::Text(status.as_str().into()), &mut args);
        }
        if let (Some(track), false) = (filter.track, release) {
            arg("Track = ?", Value::Text(track.as_str().into()), &mut args);
        }
        if let Some(app) = &filter.application {
            let clause = if release {
                "DeploymentID IN (SELECT DeploymentID FROM ReleaseBundleApps WHERE AppName = ?)"
            } else {
                "Application = ?"
            };
            arg(clause, Value::Text(app.clone()), &mut args);
        }
        if let Some(c) = &filter.after {
            args.push(Value::Integer(c.created_at.0));
            let t = args.len();
            args.push(Value::Integer(i64::try_from(c.sequence).map_err(corrupt)?));
            args.push(Value::Text(c.id.0.clone()));
            clauses.push(format!(
                "(CreatedAt, Sequence, DeploymentID) < (?{t}, ?{}, ?{})",
                t + 1,
                t + 2
            ));
        }
        args.push(Value::Integer(
            i64::try_from(filter.page()).map_err(corrupt)?,
        ));
        let sql = format!(
            "SELECT Body FROM {table} WHERE {} ORDER BY CreatedAt DESC, Sequence DESC, DeploymentID DESC LIMIT ?{}",
            clauses.join(" AND "),
            args.len()
        );
        let mut stmt = tx.prepare(&sql).map_err(map_err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                r.get::<_, String>(0)
            })
            .map_err(map_err)?;
        for row in rows {
            let d = decode(&row.map_err(map_err)?)?;
            found.insert(d.id.clone(), d);
        }
    }
    Ok(filter.select(found.into_values()))
}

/// Loads what `reads` names; every query below is answered by an index (schema.rs).
fn load(conn: &mut Connection, reads: &Reads) -> Result<State, StoreError> {
    // One read transaction: a consistent snapshot across tables.
    let tx = conn.transaction().map_err(map_err)?;
    let mut found = BTreeMap::new();
    let both = ["PreReleaseDeployments", "ReleaseDeployments"];
    let in_list = "IN (SELECT value FROM json_each(?1))";
    if reads.all_open {
        for table in both {
            bodies(&tx, table, "Open = 1", &[], &mut found)?;
        }
    } else if !reads.open_sets.is_empty() {
        let sets = json_list(&reads.open_sets)?;
        for table in both {
            bodies(
                &tx,
                table,
                &format!("Open = 1 AND ApplicationSet {in_list}"),
                &[&sets],
                &mut found,
            )?;
        }
    }
    if !reads.deployments.is_empty() {
        let ids = json_list(reads.deployments.iter().map(|d| &d.0))?;
        for table in both {
            bodies(
                &tx,
                table,
                &format!("DeploymentID {in_list}"),
                &[&ids],
                &mut found,
            )?;
        }
    }
    if !reads.dedup_keys.is_empty() {
        let keys = json_list(&reads.dedup_keys)?;
        bodies(
            &tx,
            both[0],
            &format!("DedupKey {in_list}"),
            &[&keys],
            &mut found,
        )?;
    }
    let pairs =
        "IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?1))";
    if !reads.builds.is_empty() {
        let builds = json_list(&reads.builds)?;
        let clause = format!("Track = 'PRERELEASE' AND (Application, Version) {pairs}");
        bodies(&tx, both[0], &clause, &[&builds], &mut found)?;
    }
    if !reads.bundles.is_empty() {
        let bundles = json_list(&reads.bundles)?;
        bodies(
            &tx,
            both[1],
            &format!("(ApplicationSet, Bundle) {pairs}"),
            &[&bundles],
            &mut found,
        )?;
    }
    for r in &reads.ranges {
        let clause =
            "Track = 'PRERELEASE' AND Application = ?1 AND VersionKey > ?2 AND VersionKey <= ?3";
        // No lower bound: every key is above the empty string.
        let after = r.after.clone().unwrap_or_default();
        bodies(
            &tx,
            both[0],
            clause,
            &[&r.application, &after, &r.up_to],
            &mut found,
        )?;
    }
    let mut state = State {
        holds: holds(&tx)?,
        env_versions: env_versions(&tx)?,
        ..State::default()
    };
    if !found.is_empty() {
        let ids = json_list(found.keys().map(|d| &d.0))?;
        let clause = format!("WHERE DeploymentID {in_list}");
        state.approvals = approvals_where(&tx, &clause, Some(&ids))?;
        state.changelogs = changelogs_where(&tx, &clause, Some(&ids))?;
    }
    state.deployments = found;
    if !reads.records.is_empty() {
        let keys = json_list(&reads.records)?;
        let rows = query_all(
            &tx,
            &format!("SELECT Key, Rank, Body FROM Records WHERE Key {in_list}"),
            Some(&keys),
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?;
        for (key, rank, text) in rows {
            let value = serde_json::from_str(&text).map_err(corrupt)?;
            state.records.insert(key, Record { rank, value });
        }
    }
    tx.commit().map_err(map_err)?;
    Ok(state)
}

#[async_trait]
impl Store for SqliteStore {
    async fn load(&self, reads: &Reads) -> Result<State, StoreError> {
        self.with(|conn| load(conn, reads))
    }

    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            apply(&tx, writes)?;
            tx.commit().map_err(map_err)
        })
    }

    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentView>, StoreError> {
        self.with(|conn| {
            // One read transaction: another process may write between the three reads.
            let tx = conn.transaction().map_err(map_err)?;
            let only = "WHERE DeploymentID = ?1";
            let found = deployments_where(&tx, only, Some(&id.0))?;
            let Some(deployment) = found.into_iter().next() else {
                return Ok(None);
            };
            let view = DeploymentView {
                approvals: approvals_where(&tx, only, Some(&id.0))?,
                changelog: changelogs_where(&tx, only, Some(&id.0))?,
                deployment,
            };
            tx.commit().map_err(map_err)?;
            Ok(Some(view))
        })
    }

    async fn list(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        self.with(|conn| list(conn, filter))
    }

    async fn holds(&self) -> Result<BTreeMap<String, Hold>, StoreError> {
        self.with(|conn| holds(conn))
    }

    /// Over the `ByBuild` index, reading only the times (never a body or a ledger).
    async fn change_times(
        &self,
        builds: &BTreeSet<(String, String)>,
    ) -> Result<BTreeMap<(String, String), Timestamp>, StoreError> {
        if builds.is_empty() {
            return Ok(BTreeMap::new());
        }
        let pairs = json_list(builds)?;
        self.with(|conn| {
            let mut stmt = conn
                .prepare(
                    // Driven from the wanted builds, each looked up in the ByBuild index.
                    "SELECT d.Application, d.Version, \
                       MIN(COALESCE(json_extract(d.Body, '$.build.committedAt'), d.CreatedAt)) \
                     FROM json_each(?1) AS w \
                     JOIN PreReleaseDeployments AS d \
                       ON d.Application = json_extract(w.value, '$[0]') \
                      AND d.Version = json_extract(w.value, '$[1]') \
                     WHERE d.Track = 'PRERELEASE' \
                     GROUP BY d.Application, d.Version",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map([&pairs], |r| {
                    Ok((
                        (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                        Timestamp(r.get(2)?),
                    ))
                })
                .map_err(map_err)?;
            rows.map(|r| r.map_err(map_err)).collect()
        })
    }

    /// Over the `Open` indexes, then the ledger and changelog of those found only.
    async fn waiting_on_people(&self) -> Result<Vec<DeploymentView>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction().map_err(map_err)?;
            let mut found = BTreeMap::new();
            for table in ["PreReleaseDeployments", "ReleaseDeployments"] {
                let clause = "Open = 1 AND Status IN ('AWAITING_APPROVAL', 'REJECTED')";
                bodies(&tx, table, clause, &[], &mut found)?;
            }
            let mut state = State {
                deployments: found,
                ..State::default()
            };
            if !state.deployments.is_empty() {
                let ids = json_list(state.deployments.keys().map(|d| &d.0))?;
                let clause = "WHERE DeploymentID IN (SELECT value FROM json_each(?1))";
                state.approvals = approvals_where(&tx, clause, Some(&ids))?;
                state.changelogs = changelogs_where(&tx, clause, Some(&ids))?;
            }
            tx.commit().map_err(map_err)?;
            Ok(cd_ports::waiting_on_people(&state))
        })
    }

    /// Takes the write lock and lets it go (`BEGIN IMMEDIATE`, `ROLLBACK`), waiting at most
    /// [`READY_WAIT`] for it: a database another process holds locked is reported at once,
    /// not after the writers' busy timeout.
    async fn ready(&self) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.busy_timeout(READY_WAIT).map_err(map_err)?;
            let probe = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .and_then(Transaction::rollback);
            conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
            probe.map_err(|e| {
                unavailable(format!(
                    "{}: cannot take the write lock: {e}",
                    self.path.display()
                ))
            })
        })
    }
}
