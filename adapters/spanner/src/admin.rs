//! Connecting, creating instances and databases, and migrating a database's schema.

use std::time::Duration;

use cd_ports::StoreError;
use google_cloud_gax::grpc::Code;
use google_cloud_gax::retry::RetrySetting;
use google_cloud_googleapis::spanner::admin::database::v1::{
    GetDatabaseDdlRequest, UpdateDatabaseDdlRequest,
};
use google_cloud_spanner::admin::client::Client as AdminClient;
use google_cloud_spanner::client::Client;
use google_cloud_spanner::mutation::insert_or_update;
use google_cloud_spanner::statement::Statement;
use google_cloud_spanner::value::CommitTimestamp;

use crate::Endpoint;
use crate::reads::Queries;
use crate::rows::decode;
use crate::schema;
use crate::writes::backfill_in;
use crate::{SpannerStore, corrupt, int, store_error, unavailable};

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

/// How long a schema change is waited for: polled every 10 seconds for up to
/// [`DDL_WAIT_HOURS`] hours. The client's default gives up after about three minutes, when a
/// new index on a table with history is still being built.
fn ddl_wait() -> RetrySetting {
    const POLL: Duration = Duration::from_secs(10);
    RetrySetting {
        from_millis: 50,
        max_delay: Some(POLL),
        factor: 1,
        take: usize::try_from(DDL_WAIT_HOURS * 3600 / POLL.as_secs()).unwrap_or(usize::MAX),
        codes: vec![Code::DeadlineExceeded],
    }
}

/// The longest wait for one migration's schema change.
const DDL_WAIT_HOURS: u64 = 6;

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
                tracing::info!(
                    database,
                    version = n + 1,
                    "schema migration sent; waiting for Spanner to apply it (an index on a \
                     large table takes minutes to hours)"
                );
                op.wait(Some(ddl_wait())).await.map_err(unavailable)?;
            }
            // Migration 2 derives its columns and the records from the bodies before it counts
            // as applied: a crash here runs it again at the next start, on the rows still left.
            if n == 1 {
                self.backfill().await?;
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

    /// Backfills the rows written before migration 2, a batch per read-write transaction.
    async fn backfill(&self) -> Result<(), StoreError> {
        const BATCH: i64 = 500;
        for table in ["PreReleaseDeployments", "ReleaseDeployments"] {
            loop {
                let mut tx = self.client.single().await.map_err(unavailable)?;
                let mut stmt = Statement::new(format!(
                    "SELECT Body FROM {table} WHERE Backfilled IS NULL LIMIT @n"
                ));
                stmt.add_param("n", &BATCH);
                let mut batch = Vec::new();
                for row in tx.rows(stmt).await? {
                    let body: String = row.column_by_name("Body").map_err(corrupt)?;
                    batch.push(decode(&body)?);
                }
                if batch.is_empty() {
                    break;
                }
                let batch = std::sync::Arc::new(batch);
                self.client
                    .read_write_transaction(|tx| {
                        let batch = batch.clone();
                        Box::pin(async move { backfill_in(tx, table, &batch).await })
                    })
                    .await
                    .map_err(store_error)?;
                tracing::info!(table, rows = batch.len(), "backfilled");
            }
        }
        Ok(())
    }

    /// Ends the client's sessions (they would otherwise linger on the server for an hour).
    pub async fn close(self) {
        self.client.close().await;
    }
}

/// The database's DDL statements.
pub(crate) async fn schema_of(
    admin: &AdminClient,
    database: &str,
) -> Result<Vec<String>, StoreError> {
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
