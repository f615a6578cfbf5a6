//! `cd-spanner`: the [`Store`] on Cloud Spanner, for a CD Manager that runs as several replicas.
//!
//! A decision is one read-write transaction: revisions are read and checked inside it, and the
//! writes are buffered mutations, so the whole decision commits or nothing does. The client
//! re-runs a transaction Spanner aborted (lock conflicts); past its own budget this adapter
//! runs it again a bounded number of times before reporting the store unavailable. Approval
//! timestamps are the commit's timestamp, taken by Spanner, not the manager's clock.
//!
//! The crate is `gcloud-spanner` (see docs/ARCHITECTURE.md, "Cloud Spanner", for the
//! evaluation). Against the emulator set `SPANNER_EMULATOR_HOST`; otherwise credentials come
//! from Application Default Credentials (workload identity on GKE and Cloud Run).

mod rows;
mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cd_core::pipeline::{
    ApprovalRecord, ChangelogRecord, Deployment, DeploymentId, DeploymentTrack, EnvVersion, Hold,
    Scope, State, StateWrite,
};
use cd_ports::{DeploymentFilter, DeploymentView, Store, StoreError, deployment_tables};
use google_cloud_gax::conn::Environment;
use google_cloud_gax::grpc::{Code, Status};
use google_cloud_gax::retry::TryAs;
use google_cloud_googleapis::spanner::admin::database::v1::{
    GetDatabaseDdlRequest, UpdateDatabaseDdlRequest,
};
use google_cloud_spanner::admin::AdminClientConfig;
use google_cloud_spanner::admin::client::Client as AdminClient;
use google_cloud_spanner::client::{Client, ClientConfig, Error};
use google_cloud_spanner::key::Key;
use google_cloud_spanner::mutation::{delete, insert, insert_or_update, update};
use google_cloud_spanner::session::SessionError;
use google_cloud_spanner::statement::Statement;
use google_cloud_spanner::transaction::Transaction;
use google_cloud_spanner::transaction_rw::ReadWriteTransaction;
use google_cloud_spanner::value::CommitTimestamp;

use rows::{approval_of, changelog_of, decode, env_version_of, hold_of};

/// How many times a transaction Spanner keeps aborting is run again, beyond the client's own
/// retries, before the store reports itself unavailable.
const ABORT_ATTEMPTS: u32 = 20;

/// Why a transaction stopped.
#[derive(Debug)]
enum TxError {
    Conflict(String),
    Corrupt(String),
    Spanner(Error),
}

impl From<Status> for TxError {
    fn from(s: Status) -> Self {
        // ABORTED must stay a Status: the client retries only what `try_as` shows it.
        if s.code() == Code::AlreadyExists {
            TxError::Conflict(s.message().to_string())
        } else {
            TxError::Spanner(Error::GRPC(s))
        }
    }
}

impl From<SessionError> for TxError {
    fn from(e: SessionError) -> Self {
        TxError::Spanner(Error::InvalidSession(e))
    }
}

impl From<Error> for TxError {
    fn from(e: Error) -> Self {
        match e {
            Error::GRPC(s) => s.into(),
            other => TxError::Spanner(other),
        }
    }
}

impl From<google_cloud_spanner::row::Error> for TxError {
    fn from(e: google_cloud_spanner::row::Error) -> Self {
        TxError::Corrupt(e.to_string())
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => TxError::Conflict(m),
            StoreError::Corrupt(m) => TxError::Corrupt(m),
            other => TxError::Spanner(Error::InvalidConfig(other.to_string())),
        }
    }
}

impl TryAs<Status> for TxError {
    fn try_as(&self) -> Option<&Status> {
        match self {
            TxError::Spanner(Error::GRPC(s)) => Some(s),
            _ => None,
        }
    }
}

fn aborted(e: &TxError) -> bool {
    e.try_as().is_some_and(|s| s.code() == Code::Aborted)
}

fn store_error(e: TxError) -> StoreError {
    match e {
        TxError::Conflict(m) => StoreError::Conflict(m),
        TxError::Corrupt(m) => StoreError::Corrupt(m),
        TxError::Spanner(Error::GRPC(s)) => match s.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                StoreError::Corrupt(format!("{:?}: {}", s.code(), s.message()))
            }
            code => StoreError::Unavailable(format!("{code:?}: {}", s.message())),
        },
        TxError::Spanner(other) => StoreError::Unavailable(other.to_string()),
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn int(n: impl TryInto<i64> + Copy + std::fmt::Display) -> Result<i64, StoreError> {
    n.try_into()
        .map_err(|_| StoreError::Corrupt(format!("{n} does not fit INT64")))
}

/// The Store on a Spanner database.
#[derive(Clone)]
pub struct SpannerStore {
    client: Client,
    database: String,
}

impl std::fmt::Debug for SpannerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpannerStore")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// Where the Spanner API is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Google Cloud, with Application Default Credentials.
    Google,
    /// An emulator at `host:port` (no credentials).
    Emulator(String),
}

impl Endpoint {
    /// The emulator named by `SPANNER_EMULATOR_HOST` in `env`, else Google.
    #[must_use]
    pub fn from_env(env: &BTreeMap<String, String>) -> Self {
        match env.get("SPANNER_EMULATOR_HOST").filter(|h| !h.is_empty()) {
            Some(host) => Endpoint::Emulator(host.clone()),
            None => Endpoint::Google,
        }
    }

    async fn client_config(&self) -> Result<ClientConfig, StoreError> {
        match self {
            // (The client itself prefers SPANNER_EMULATOR_HOST when it is set.)
            Endpoint::Google => ClientConfig::default()
                .with_auth()
                .await
                .map_err(unavailable),
            Endpoint::Emulator(host) => Ok(ClientConfig {
                environment: Environment::Emulator(host.clone()),
                ..ClientConfig::default()
            }),
        }
    }

    async fn admin_config(&self) -> Result<AdminClientConfig, StoreError> {
        match self {
            Endpoint::Google => AdminClientConfig::default()
                .with_auth()
                .await
                .map_err(unavailable),
            Endpoint::Emulator(host) => Ok(AdminClientConfig {
                environment: Environment::Emulator(host.clone()),
                ..AdminClientConfig::default()
            }),
        }
    }

    /// An admin client (instances, databases, DDL).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn admin(&self) -> Result<AdminClient, StoreError> {
        AdminClient::new(self.admin_config().await?)
            .await
            .map_err(unavailable)
    }
}

/// Creates instance `id` of `project` (`projects/P`) with `config` (e.g.
/// `projects/P/instanceConfigs/regional-europe-west1`, or `emulator-config`); returns its name.
/// An existing instance is success.
///
/// # Errors
/// [`StoreError::Unavailable`].
pub async fn create_instance(
    endpoint: &Endpoint,
    project: &str,
    id: &str,
    config: &str,
) -> Result<String, StoreError> {
    use google_cloud_googleapis::spanner::admin::instance::v1::{CreateInstanceRequest, Instance};
    let name = format!("{project}/instances/{id}");
    let admin = endpoint.admin().await?;
    let request = CreateInstanceRequest {
        parent: project.to_string(),
        instance_id: id.to_string(),
        instance: Some(Instance {
            name: name.clone(),
            config: config.to_string(),
            display_name: id.to_string(),
            node_count: 1,
            ..Default::default()
        }),
    };
    match admin.instance().create_instance(request, None).await {
        Ok(mut op) => {
            op.wait(None).await.map_err(unavailable)?;
        }
        Err(s) if s.code() == Code::AlreadyExists => {}
        Err(s) => return Err(unavailable(s)),
    }
    Ok(name)
}

/// Creates the empty database `id` in `instance`; returns its name. Run
/// [`SpannerStore::migrate`] on it next.
///
/// # Errors
/// [`StoreError::Unavailable`]; [`StoreError::Conflict`] when it exists.
pub async fn create_database(
    endpoint: &Endpoint,
    instance: &str,
    id: &str,
) -> Result<String, StoreError> {
    use google_cloud_googleapis::spanner::admin::database::v1::CreateDatabaseRequest;
    let admin = endpoint.admin().await?;
    let request = CreateDatabaseRequest {
        parent: instance.to_string(),
        create_statement: format!("CREATE DATABASE `{id}`"),
        ..Default::default()
    };
    match admin.database().create_database(request, None).await {
        Ok(mut op) => {
            op.wait(None).await.map_err(unavailable)?;
        }
        Err(s) if s.code() == Code::AlreadyExists => {
            return Err(StoreError::Conflict(format!("database {id} exists")));
        }
        Err(s) => return Err(unavailable(s)),
    }
    Ok(format!("{instance}/databases/{id}"))
}

impl SpannerStore {
    /// Connects to `database` (`projects/P/instances/I/databases/D`) at `endpoint`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the client cannot be built or credentials are missing.
    pub async fn connect(endpoint: &Endpoint, database: &str) -> Result<Self, StoreError> {
        let client = Client::new(database, endpoint.client_config().await?)
            .await
            .map_err(unavailable)?;
        Ok(SpannerStore {
            client,
            database: database.to_string(),
        })
    }

    /// Applies the schema migrations `database` lacks; returns how many it applied. Safe to run
    /// at every start.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the admin API fails; [`StoreError::Corrupt`] when the
    /// database's schema is newer than this program.
    pub async fn migrate(endpoint: &Endpoint, database: &str) -> Result<usize, StoreError> {
        let store = SpannerStore::connect(endpoint, database).await?;
        let result = store.migrate_with(endpoint, database).await;
        // Sessions would otherwise linger on the server for an hour, on every path.
        store.close().await;
        result
    }

    async fn migrate_with(&self, endpoint: &Endpoint, database: &str) -> Result<usize, StoreError> {
        let admin = endpoint.admin().await?;
        let ddl = schema_of(&admin, database).await?;
        let applied = if ddl.iter().any(|s| s.contains("TABLE SchemaMigrations")) {
            let mut tx = self.client.single().await.map_err(unavailable)?;
            let rows = tx
                .rows(Statement::new(
                    "SELECT COALESCE(MAX(Version), 0) AS V FROM SchemaMigrations",
                ))
                .await?;
            let v: i64 = match rows.first() {
                Some(row) => row.column_by_name("V").map_err(corrupt)?,
                None => 0,
            };
            usize::try_from(v).map_err(corrupt)?
        } else {
            0
        };
        if applied > schema::MIGRATIONS.len() {
            return Err(StoreError::Corrupt(format!(
                "database schema version {applied} is newer than this program ({})",
                schema::MIGRATIONS.len()
            )));
        }
        let mut count = 0;
        for (n, statements) in schema::MIGRATIONS.iter().enumerate().skip(applied) {
            // A crash (or another replica) may have applied some statements without recording
            // the version: apply only what the schema lacks, so a migration can always finish.
            let current = schema_of(&admin, database).await?;
            let missing: Vec<String> = statements
                .iter()
                .filter(|st| !schema::exists(st, &current))
                .map(|st| (*st).to_string())
                .collect();
            if !missing.is_empty() {
                let mut op = admin
                    .database()
                    .update_database_ddl(
                        UpdateDatabaseDdlRequest {
                            database: database.to_string(),
                            statements: missing,
                            ..Default::default()
                        },
                        None,
                    )
                    .await
                    .map_err(unavailable)?;
                op.wait(None).await.map_err(unavailable)?;
            }
            let version = int(n + 1)?;
            self.client
                .apply(vec![insert_or_update(
                    "SchemaMigrations",
                    &["Version", "AppliedAt"],
                    &[&version, &CommitTimestamp::new()],
                )])
                .await
                .map_err(unavailable)?;
            tracing::info!(database, version, "schema migration applied");
            count += 1;
        }
        Ok(count)
    }

    /// Ends the client's sessions (they would otherwise linger on the server for an hour).
    pub async fn close(self) {
        self.client.close().await;
    }

    async fn query_bodies(
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

/// The database's DDL statements.
async fn schema_of(admin: &AdminClient, database: &str) -> Result<Vec<String>, StoreError> {
    Ok(admin
        .database()
        .get_database_ddl(
            GetDatabaseDdlRequest {
                database: database.to_string(),
            },
            None,
        )
        .await
        .map_err(unavailable)?
        .into_inner()
        .statements)
}

/// The queries this adapter runs, over read-only and read-write transactions alike.
#[async_trait]
trait Queries: Send {
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

fn body(d: &Deployment) -> Result<String, StoreError> {
    serde_json::to_string(d).map_err(corrupt)
}

/// Rows of a query inside a read-write transaction. Errors keep their gRPC status, so an
/// ABORTED read is retried like an ABORTED commit.
async fn rw_rows(
    tx: &mut ReadWriteTransaction,
    stmt: Statement,
) -> Result<Vec<google_cloud_spanner::row::Row>, TxError> {
    let mut it = tx.query(stmt).await?;
    let mut out = Vec::new();
    while let Some(row) = it.next().await? {
        out.push(row);
    }
    Ok(out)
}

async fn revision_of(
    tx: &mut ReadWriteTransaction,
    table: &str,
    key: Key,
) -> Result<Option<i64>, TxError> {
    let row = tx.read_row(table, &["Revision"], key).await?;
    Ok(match row {
        Some(r) => Some(r.column_by_name::<i64>("Revision")?),
        None => None,
    })
}

async fn existing_keys(
    tx: &mut ReadWriteTransaction,
    table: &str,
    column: &str,
    id: &str,
) -> Result<Vec<google_cloud_spanner::row::Row>, TxError> {
    let mut stmt = Statement::new(format!(
        "SELECT {column} FROM {table} WHERE DeploymentID = @id"
    ));
    stmt.add_param("id", &id);
    rw_rows(tx, stmt).await
}

#[allow(clippy::too_many_lines)] // One column list per table, side by side with its values.
async fn put_deployment(
    tx: &mut ReadWriteTransaction,
    d: &Deployment,
    expected: Option<u64>,
) -> Result<(), TxError> {
    let (table, stages) = deployment_tables(d.track);
    let id = d.id.0.clone();
    let revision = int(d.revision)?;
    let stage_index = int(d.current_stage)?;
    let sequence = int(d.sequence)?;
    let json = body(d)?;
    let mut ms = Vec::new();
    if let Some(exp) = expected {
        match revision_of(tx, table, Key::new(&id)).await? {
            Some(current) if current == int(exp)? => {}
            found => {
                return Err(TxError::Conflict(format!(
                    "deployment {id} changed since it was read (revision {found:?}, expected {exp})"
                )));
            }
        }
    }
    let release = d.track == DeploymentTrack::Release;
    let last_deployed = serde_json::to_string(&d.last_deployed_versions).map_err(corrupt)?;
    match (release, expected) {
        (true, None) => ms.push(insert(
            table,
            &[
                "DeploymentID",
                "Revision",
                "Status",
                "ApplicationSet",
                "Bundle",
                "Version",
                "StageIndex",
                "LastDeployedVersions",
                "Sequence",
                "CreatedAt",
                "UpdatedAt",
                "Body",
            ],
            &[
                &id,
                &revision,
                &d.status.as_str(),
                &d.application_set,
                &d.bundle.clone().unwrap_or_default(),
                &d.version,
                &stage_index,
                &last_deployed,
                &sequence,
                &d.created_at.0,
                &d.updated_at.0,
                &json,
            ],
        )),
        (true, Some(_)) => ms.push(update(
            table,
            &[
                "DeploymentID",
                "Revision",
                "Status",
                "Version",
                "StageIndex",
                "LastDeployedVersions",
                "UpdatedAt",
                "Body",
            ],
            &[
                &id,
                &revision,
                &d.status.as_str(),
                &d.version,
                &stage_index,
                &last_deployed,
                &d.updated_at.0,
                &json,
            ],
        )),
        (false, None) => ms.push(insert(
            table,
            &[
                "DeploymentID",
                "Track",
                "Revision",
                "Status",
                "ApplicationSet",
                "Application",
                "Version",
                "StageIndex",
                "BuildDefinition",
                "DedupKey",
                "Sequence",
                "CreatedAt",
                "UpdatedAt",
                "Body",
            ],
            &[
                &id,
                &d.track.as_str(),
                &revision,
                &d.status.as_str(),
                &d.application_set,
                &d.application.clone().unwrap_or_default(),
                &d.version,
                &stage_index,
                &d.build.as_ref().map(|b| b.build_definition.clone()),
                &d.dedup_key,
                &sequence,
                &d.created_at.0,
                &d.updated_at.0,
                &json,
            ],
        )),
        (false, Some(_)) => ms.push(update(
            table,
            &[
                "DeploymentID",
                "Revision",
                "Status",
                "Version",
                "StageIndex",
                "UpdatedAt",
                "Body",
            ],
            &[
                &id,
                &revision,
                &d.status.as_str(),
                &d.version,
                &stage_index,
                &d.updated_at.0,
                &json,
            ],
        )),
    }
    // Stages (and bundle apps): write the current ones, delete those no longer there.
    if expected.is_some() {
        for row in existing_keys(tx, stages, "StageIndex", &id).await? {
            let index: i64 = row.column_by_name("StageIndex")?;
            if usize::try_from(index).map_or(true, |i| i >= d.stages.len()) {
                ms.push(delete(stages, Key::composite(&[&id, &index])));
            }
        }
    }
    for s in &d.stages {
        ms.push(insert_or_update(
            stages,
            &[
                "DeploymentID",
                "StageIndex",
                "Environments",
                "Status",
                "CommitSha",
                "RunID",
                "StartedAt",
                "FinishedAt",
            ],
            &[
                &id,
                &int(s.index)?,
                &s.environments.join(","),
                &s.status.as_str(),
                &s.commit_sha,
                &s.run_id,
                &s.started_at.map(|t| t.0),
                &s.finished_at.map(|t| t.0),
            ],
        ));
    }
    if release {
        if expected.is_some() {
            for row in existing_keys(tx, "ReleaseBundleApps", "AppName", &id).await? {
                let app: String = row.column_by_name("AppName")?;
                if !d.apps.contains_key(&app) {
                    ms.push(delete("ReleaseBundleApps", Key::composite(&[&id, &app])));
                }
            }
        }
        for (app, a) in &d.apps {
            ms.push(insert_or_update(
                "ReleaseBundleApps",
                &[
                    "DeploymentID",
                    "AppName",
                    "Version",
                    "Image",
                    "BranchCommit",
                    "ProductionTag",
                ],
                &[
                    &id,
                    app,
                    &a.version,
                    &a.image,
                    &a.branch_commit,
                    &a.production_tag,
                ],
            ));
        }
    }
    tx.buffer_write(ms);
    Ok(())
}

async fn put_env_version(
    tx: &mut ReadWriteTransaction,
    v: &EnvVersion,
    expected: Option<u64>,
) -> Result<(), TxError> {
    let key = Key::composite(&[&v.application, &v.environment]);
    let current = revision_of(tx, "EnvironmentVersions", key).await?;
    let matches = match (expected, current) {
        (None, None) => true,
        (Some(e), Some(c)) => int(e)? == c,
        _ => false,
    };
    if !matches {
        return Err(TxError::Conflict(format!(
            "environment version {}/{} changed since it was read",
            v.application, v.environment
        )));
    }
    tx.buffer_write(vec![insert_or_update(
        "EnvironmentVersions",
        &[
            "Application",
            "Environment",
            "Version",
            "Previous",
            "DeploymentID",
            "Track",
            "InFlight",
            "Revision",
        ],
        &[
            &v.application,
            &v.environment,
            &v.version,
            &v.previous,
            &v.deployment.0,
            &v.track.as_str(),
            &v.in_flight,
            &int(v.revision)?,
        ],
    )]);
    Ok(())
}

/// The next append position in `table` for `deployment`, counting this transaction's own
/// appends (buffered writes are not visible to its reads).
async fn next_position(
    tx: &mut ReadWriteTransaction,
    table: &str,
    deployment: &str,
    appended: &mut BTreeMap<(String, String), i64>,
) -> Result<i64, TxError> {
    let key = (table.to_string(), deployment.to_string());
    if let Some(n) = appended.get_mut(&key) {
        *n += 1;
        return Ok(*n);
    }
    let mut stmt = Statement::new(format!(
        "SELECT COALESCE(MAX(Position), -1) AS P FROM {table} WHERE DeploymentID = @id"
    ));
    stmt.add_param("id", &deployment);
    let rows = rw_rows(tx, stmt).await?;
    let last: i64 = match rows.first() {
        Some(r) => r.column_by_name("P")?,
        None => -1,
    };
    appended.insert(key, last + 1);
    Ok(last + 1)
}

async fn apply_in(tx: &mut ReadWriteTransaction, writes: &[StateWrite]) -> Result<(), TxError> {
    let mut appended = BTreeMap::new();
    for w in writes {
        match w {
            StateWrite::PutDeployment {
                deployment,
                expected_revision,
            } => put_deployment(tx, deployment, *expected_revision).await?,
            StateWrite::AppendApproval(a) => {
                let position =
                    next_position(tx, "DeploymentApprovals", &a.deployment.0, &mut appended)
                        .await?;
                // An insert: a reused approval id fails the commit (ALREADY_EXISTS).
                tx.buffer_write(vec![insert(
                    "DeploymentApprovals",
                    &[
                        "DeploymentID",
                        "ApprovalID",
                        "Position",
                        "StageIndex",
                        "Actor",
                        "Action",
                        "Timestamp",
                        "Comment",
                    ],
                    &[
                        &a.deployment.0,
                        &a.approval_id,
                        &position,
                        &int(a.stage_index)?,
                        &a.actor,
                        &a.action.as_str(),
                        &CommitTimestamp::new(),
                        &a.comment,
                    ],
                )]);
            }
            StateWrite::AppendChangelog(c) => {
                let position =
                    next_position(tx, "DeploymentChangelogs", &c.deployment.0, &mut appended)
                        .await?;
                let entry = serde_json::to_string(&c.entry).map_err(corrupt)?;
                tx.buffer_write(vec![insert(
                    "DeploymentChangelogs",
                    &["DeploymentID", "ChangelogID", "Position", "Body"],
                    &[&c.deployment.0, &c.changelog_id, &position, &entry],
                )]);
            }
            StateWrite::PutHold { environment, hold } => {
                tx.buffer_write(vec![insert_or_update(
                    "Holds",
                    &["Environment", "Reason", "Actor", "PlacedAt"],
                    &[environment, &hold.reason, &hold.actor, &hold.at.0],
                )]);
            }
            StateWrite::RemoveHold { environment } => {
                tx.buffer_write(vec![delete("Holds", Key::new(environment))]);
            }
            StateWrite::PutEnvVersion {
                value,
                expected_revision,
            } => put_env_version(tx, value, *expected_revision).await?,
        }
    }
    Ok(())
}

/// Which deployments' ledger rows to read.
enum Of<'a> {
    All,
    These(Vec<String>),
    One(&'a str),
}

fn ledger_query(select: &str, table: &str, of: &Of<'_>) -> Statement {
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

async fn approvals(tx: &mut impl Queries, of: &Of<'_>) -> Result<Vec<ApprovalRecord>, StoreError> {
    let stmt = ledger_query(
        "DeploymentID, ApprovalID, StageIndex, Actor, Action, Timestamp, Comment",
        "DeploymentApprovals",
        of,
    );
    tx.rows(stmt).await?.iter().map(approval_of).collect()
}

async fn changelogs(
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

async fn holds(tx: &mut impl Queries) -> Result<BTreeMap<String, Hold>, StoreError> {
    tx.rows(Statement::new(
        "SELECT Environment, Reason, Actor, PlacedAt FROM Holds",
    ))
    .await?
    .iter()
    .map(hold_of)
    .collect()
}

async fn env_versions(tx: &mut impl Queries) -> Result<BTreeMap<String, EnvVersion>, StoreError> {
    tx.rows(Statement::new(
        "SELECT Application, Environment, Version, Previous, DeploymentID, Track, InFlight, Revision FROM EnvironmentVersions",
    ))
    .await?
    .iter()
    .map(env_version_of)
    .collect()
}

async fn set_of(tx: &mut impl Queries, id: &str) -> Result<Option<String>, StoreError> {
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

async fn deployment_by_id(
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
async fn newest(
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

#[async_trait]
impl Store for SpannerStore {
    async fn load(&self, scope: &Scope) -> Result<State, StoreError> {
        // One read-only transaction: a consistent snapshot across tables.
        let mut tx = self
            .client
            .read_only_transaction()
            .await
            .map_err(unavailable)?;
        let set = match scope {
            Scope::All => None,
            Scope::ApplicationSet(s) => Some(s.clone()),
            Scope::SetOf(id) => match set_of(&mut tx, &id.0).await? {
                Some(s) => Some(s),
                None => {
                    return Ok(State {
                        holds: holds(&mut tx).await?,
                        ..State::default()
                    });
                }
            },
        };
        let deployments = Self::query_bodies(&mut tx, set.as_deref()).await?;
        let apps: BTreeSet<String> = deployments
            .iter()
            .flat_map(|d| d.applications().into_iter().map(str::to_string))
            .collect();
        let mut state = State {
            holds: holds(&mut tx).await?,
            ..State::default()
        };
        state.deployments = deployments.into_iter().map(|d| (d.id.clone(), d)).collect();
        // Only the ledger rows of the deployments in view.
        let of = match &set {
            None => Of::All,
            Some(_) => Of::These(state.deployments.keys().map(|d| d.0.clone()).collect()),
        };
        let approvals = approvals(&mut tx, &of).await?;
        let changelogs = changelogs(&mut tx, &of).await?;
        state.approvals = approvals
            .into_iter()
            .filter(|a| state.deployments.contains_key(&a.deployment))
            .collect();
        state.changelogs = changelogs
            .into_iter()
            .filter(|c| state.deployments.contains_key(&c.deployment))
            .collect();
        state.env_versions = env_versions(&mut tx)
            .await?
            .into_iter()
            .filter(|(_, v)| set.is_none() || apps.contains(&v.application))
            .collect();
        Ok(state)
    }

    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        let writes = Arc::new(writes.to_vec());
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .read_write_transaction(|tx| {
                    let writes = writes.clone();
                    Box::pin(async move { apply_in(tx, &writes).await })
                })
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(e) if aborted(&e) && attempt < ABORT_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(e) => return Err(store_error(e)),
            }
        }
    }

    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentView>, StoreError> {
        let mut tx = self
            .client
            .read_only_transaction()
            .await
            .map_err(unavailable)?;
        let Some(deployment) = deployment_by_id(&mut tx, &id.0).await? else {
            return Ok(None);
        };
        Ok(Some(DeploymentView {
            approvals: approvals(&mut tx, &Of::One(&id.0)).await?,
            changelog: changelogs(&mut tx, &Of::One(&id.0)).await?,
            deployment,
        }))
    }

    async fn list(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        let mut tx = self.client.single().await.map_err(unavailable)?;
        let all = if filter.application.is_none() && filter.limit > 0 {
            // The newest `limit` of each table, filtered in SQL: a health probe or a dashboard
            // must not read the whole history.
            newest(&mut tx, filter).await?
        } else {
            Self::query_bodies(&mut tx, filter.application_set.as_deref()).await?
        };
        Ok(filter.select(all))
    }
}
