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

mod admin;
mod reads;
mod rows;
mod schema;
mod writes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cd_core::pipeline::{Deployment, DeploymentId, Hold, Reads, State, StateWrite, Timestamp};
use cd_ports::{DeploymentFilter, DeploymentView, Store, StoreError};
use google_cloud_gax::conn::Environment;
use google_cloud_gax::grpc::{Code, Status};
use google_cloud_gax::retry::TryAs;
use google_cloud_spanner::admin::AdminClientConfig;
use google_cloud_spanner::admin::client::Client as AdminClient;
use google_cloud_spanner::client::{Client, ClientConfig, Error};
use google_cloud_spanner::session::SessionError;

pub use admin::{create_database, create_instance};

/// How many schema migrations this version knows: a migrated database records this version.
pub const MIGRATION_COUNT: usize = schema::MIGRATIONS.len();
use reads::{Of, approvals, changelogs, deployment_by_id, load, newest};
use writes::apply_in;

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

#[async_trait]
impl Store for SpannerStore {
    async fn load(&self, reads: &Reads) -> Result<State, StoreError> {
        // One read-only transaction: a consistent snapshot across tables.
        let mut tx = self
            .client
            .read_only_transaction()
            .await
            .map_err(unavailable)?;
        load(&mut tx, reads).await
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
        // A page of each table, filtered in SQL: a listing never reads the whole history.
        let page = newest(&mut tx, filter).await?;
        Ok(filter.select(page))
    }

    /// The Holds table alone, in one single-use read.
    async fn holds(&self) -> Result<BTreeMap<String, Hold>, StoreError> {
        let mut tx = self.client.single().await.map_err(unavailable)?;
        reads::holds(&mut tx).await
    }

    /// Over the `Open` indexes, in one read-only transaction (a consistent snapshot of the
    /// deployments and their ledgers).
    async fn waiting_on_people(&self) -> Result<Vec<DeploymentView>, StoreError> {
        let mut tx = self
            .client
            .read_only_transaction()
            .await
            .map_err(unavailable)?;
        reads::waiting_on_people(&mut tx).await
    }

    /// Over the `ByBuild` index, answering only the times (the bodies stay in Spanner).
    async fn change_times(
        &self,
        builds: &BTreeSet<(String, String)>,
    ) -> Result<BTreeMap<(String, String), Timestamp>, StoreError> {
        let mut tx = self.client.single().await.map_err(unavailable)?;
        reads::change_times(&mut tx, builds).await
    }

    /// A one-row read: Spanner takes writes whenever it answers reads, and a write probe
    /// would add a transaction per probe to a shared database.
    async fn ready(&self) -> Result<(), StoreError> {
        let mut tx = self.client.single().await.map_err(unavailable)?;
        let filter = DeploymentFilter {
            limit: 1,
            ..DeploymentFilter::default()
        };
        newest(&mut tx, &filter).await.map(|_| ())
    }
}
