//! The Cloud Spanner emulator (preinstalled with the Google Cloud SDK), on a free port.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cd_spanner::{Endpoint, SpannerStore};
use google_cloud_googleapis::spanner::admin::database::v1::CreateDatabaseRequest;
use google_cloud_googleapis::spanner::admin::instance::v1::{CreateInstanceRequest, Instance};

const PROJECT: &str = "projects/infrastream-test";
const INSTANCE: &str = "projects/infrastream-test/instances/test";

pub(crate) struct Emulator {
    child: Child,
    port: u16,
}

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("SPANNER_EMULATOR_BIN") {
        return p.into();
    }
    let default =
        PathBuf::from("/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator/emulator_main");
    assert!(
        default.exists(),
        "the Cloud Spanner emulator is not installed at {}: these tests run against it. \
         Install the Google Cloud SDK's cloud-spanner-emulator component, or set SPANNER_EMULATOR_BIN.",
        default.display()
    );
    default
}

impl Emulator {
    /// Starts an emulator and creates the test instance.
    pub(crate) async fn start() -> Emulator {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary())
            .args(["--host_port", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Spanner emulator");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the emulator did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        let emulator = Emulator { child, port };
        let admin = emulator.endpoint().admin().await.unwrap();
        let mut op = admin
            .instance()
            .create_instance(
                CreateInstanceRequest {
                    parent: PROJECT.into(),
                    instance_id: "test".into(),
                    instance: Some(Instance {
                        name: INSTANCE.into(),
                        config: format!("{PROJECT}/instanceConfigs/emulator-config"),
                        display_name: "test".into(),
                        node_count: 1,
                        ..Default::default()
                    }),
                },
                None,
            )
            .await
            .unwrap();
        op.wait(None).await.unwrap();
        emulator
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::Emulator(self.host())
    }

    /// An empty database; returns its name.
    pub(crate) async fn database(&self, id: &str) -> String {
        let admin = self.endpoint().admin().await.unwrap();
        let mut op = admin
            .database()
            .create_database(
                CreateDatabaseRequest {
                    parent: INSTANCE.into(),
                    create_statement: format!("CREATE DATABASE `{id}`"),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        op.wait(None).await.unwrap();
        format!("{INSTANCE}/databases/{id}")
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

    /// The ledger's recorded time of one approval, in ms since the epoch.
    pub(crate) async fn approval_time(
        &self,
        database: &str,
        deployment: &str,
        approval: &str,
    ) -> i64 {
        use google_cloud_spanner::statement::Statement;
        let client = google_cloud_spanner::client::Client::new(
            database,
            google_cloud_spanner::client::ClientConfig {
                environment: google_cloud_gax::conn::Environment::Emulator(self.host()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
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

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
