//! The Cloud Spanner emulator with a test instance, and databases on it.

use cd_contract::emulators;
use cd_spanner::{Endpoint, SpannerStore, create_database, create_instance};

const PROJECT: &str = "projects/infrastream-test";

pub(crate) struct Emulator {
    inner: emulators::Emulator,
    instance: String,
}

impl Emulator {
    /// Starts an emulator and creates the test instance.
    pub(crate) async fn start() -> Emulator {
        let inner = emulators::Emulator::spanner();
        let endpoint = Endpoint::Emulator(inner.host());
        let instance = create_instance(
            &endpoint,
            PROJECT,
            "test",
            &format!("{PROJECT}/instanceConfigs/emulator-config"),
        )
        .await
        .unwrap();
        Emulator { inner, instance }
    }

    pub(crate) fn host(&self) -> String {
        self.inner.host()
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::Emulator(self.host())
    }

    /// An empty database; returns its name.
    pub(crate) async fn database(&self, id: &str) -> String {
        create_database(&self.endpoint(), &self.instance, id)
            .await
            .unwrap()
    }

    /// A migrated database and a store on it.
    pub(crate) async fn store(&self, id: &str) -> SpannerStore {
        let database = self.database(id).await;
        SpannerStore::migrate(&self.endpoint(), &database)
            .await
            .unwrap();
        SpannerStore::connect(&self.endpoint(), &database)
            .await
            .unwrap()
    }

    /// A plain client on `database`, to look at rows as an operator would.
    async fn client(&self, database: &str) -> google_cloud_spanner::client::Client {
        google_cloud_spanner::client::Client::new(
            database,
            google_cloud_spanner::client::ClientConfig {
                environment: google_cloud_gax::conn::Environment::Emulator(self.host()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    /// How many rows `table` holds.
    pub(crate) async fn count(&self, database: &str, table: &str) -> i64 {
        let client = self.client(database).await;
        let mut tx = client.single().await.unwrap();
        let mut it = tx
            .query(google_cloud_spanner::statement::Statement::new(format!(
                "SELECT COUNT(*) AS N FROM {table}"
            )))
            .await
            .unwrap();
        let n: i64 = it
            .next()
            .await
            .unwrap()
            .unwrap()
            .column_by_name("N")
            .unwrap();
        client.close().await;
        n
    }

    /// Deletes the record of applied migrations, leaving the schema as it is.
    pub(crate) async fn forget_migrations(&self, database: &str) {
        let client = self.client(database).await;
        client
            .apply(vec![google_cloud_spanner::mutation::delete(
                "SchemaMigrations",
                google_cloud_spanner::key::all_keys(),
            )])
            .await
            .unwrap();
        client.close().await;
    }

    /// Makes every deployment look written before migration 2 (its derived columns empty, no
    /// records) and forgets the applied migrations, so the next start migrates again.
    pub(crate) async fn forget_derived(&self, database: &str) {
        use google_cloud_spanner::statement::Statement;
        let client = self.client(database).await;
        let result: Result<_, google_cloud_spanner::client::Error> = client
            .read_write_transaction(|tx| {
                Box::pin(async move {
                    for sql in [
                        "UPDATE PreReleaseDeployments SET OpenSet = NULL, VersionKey = NULL, Backfilled = NULL WHERE TRUE",
                        "UPDATE ReleaseDeployments SET OpenSet = NULL, Backfilled = NULL WHERE TRUE",
                    ] {
                        tx.update(Statement::new(sql)).await?;
                    }
                    Ok(())
                })
            })
            .await;
        result.unwrap();
        client
            .apply(vec![
                google_cloud_spanner::mutation::delete(
                    "Records",
                    google_cloud_spanner::key::all_keys(),
                ),
                google_cloud_spanner::mutation::delete(
                    "SchemaMigrations",
                    google_cloud_spanner::key::all_keys(),
                ),
            ])
            .await
            .unwrap();
        client.close().await;
    }

    /// The ledger's recorded time of one approval, in ms since the epoch.
    pub(crate) async fn approval_time(
        &self,
        database: &str,
        deployment: &str,
        approval: &str,
    ) -> i64 {
        use google_cloud_spanner::statement::Statement;
        let client = self.client(database).await;
        let mut tx = client.single().await.unwrap();
        let mut stmt = Statement::new(
            "SELECT Timestamp FROM DeploymentApprovals WHERE DeploymentID = @d AND ApprovalID = @a",
        );
        stmt.add_param("d", &deployment);
        stmt.add_param("a", &approval);
        let mut it = tx.query(stmt).await.unwrap();
        let row = it.next().await.unwrap().expect("the approval is recorded");
        let t: time::OffsetDateTime = row.column_by_name("Timestamp").unwrap();
        client.close().await;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap()
    }
}
