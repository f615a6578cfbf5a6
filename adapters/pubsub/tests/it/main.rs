//! cd-pubsub against the real Pub/Sub emulator, started by the tests on a free port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cd_contract::emulators::Emulator;
use cd_core::pipeline::{BuildNotified, CloudEvent, Timestamp};
use cd_ports::Notifier;
use cd_pubsub::{Endpoint, Handled, Handler, PubSub, subscribe};

async fn connect(emulator: &Emulator) -> PubSub {
    PubSub::connect(&Endpoint::Emulator {
        host: emulator.host(),
        project: "infrastream-test".into(),
    })
    .await
    .unwrap()
}

fn build(version: &str) -> BuildNotified {
    BuildNotified {
        build_definition_id: "shop-api".into(),
        container: "shop-api".into(),
        version: version.into(),
        ..BuildNotified::default()
    }
}

fn parse(data: &[u8]) -> Result<BuildNotified, String> {
    serde_json::from_slice(data).map_err(|e| e.to_string())
}

#[derive(Default)]
struct Seen {
    deliveries: Mutex<Vec<String>>,
}

struct FailsFirst(Arc<Seen>);

#[async_trait]
impl Handler for FailsFirst {
    async fn handle(&self, n: BuildNotified, _id: &str) -> Handled {
        let mut d = self.0.deliveries.lock().unwrap();
        d.push(n.version.clone());
        let times = d.iter().filter(|v| **v == n.version).count();
        // v1.0.0's first delivery fails as a store outage would; everything else is stored.
        if n.version == "v1.0.0" && times == 1 {
            Handled::Retry
        } else {
            Handled::Done
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_acked_once_stored_and_redelivered_when_not() {
    let emulator = Emulator::pubsub();
    let pubsub = connect(&emulator).await;
    pubsub.ensure_topic("builds").await.unwrap();
    pubsub
        .ensure_subscription("cd-manager", "builds", 10)
        .await
        .unwrap();
    pubsub
        .publish_notification("builds", &build("v1.0.0"))
        .await
        .unwrap();
    pubsub
        .publish_notification("builds", &build("v1.1.0"))
        .await
        .unwrap();
    pubsub
        .publish_raw("builds", b"not json".to_vec(), HashMap::new())
        .await
        .unwrap();

    let seen = Arc::new(Seen::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = {
        let pubsub = pubsub.clone();
        let handler = Arc::new(FailsFirst(seen.clone()));
        tokio::spawn(async move { subscribe(&pubsub, "cd-manager", parse, handler, stop_rx).await })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = seen.deliveries.lock().unwrap().clone();
        let count = |v: &str| d.iter().filter(|x| *x == v).count();
        if count("v1.0.0") == 2 && count("v1.1.0") == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "deliveries so far: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let d = seen.deliveries.lock().unwrap().clone();
    assert_eq!(d.len(), 3, "{d:?}");
    stop_tx.send(true).unwrap();
    task.await.unwrap();
    // Acknowledged messages do not come back, the malformed one (which never reaches the
    // handler) included: past the 10 s ack deadline, the subscription holds nothing.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let raw = google_cloud_pubsub::client::Client::new(google_cloud_pubsub::client::ClientConfig {
        project_id: Some("infrastream-test".into()),
        environment: google_cloud_gax::conn::Environment::Emulator(emulator.host()),
        ..Default::default()
    })
    .await
    .unwrap();
    // An empty subscription makes the pull wait: give up after 20 s, which is the answer too
    // (a message still there comes back well within it).
    let pulled = tokio::time::timeout(
        Duration::from_secs(20),
        raw.subscription("cd-manager").pull(10, None),
    )
    .await;
    if let Ok(messages) = pulled {
        let left: Vec<Vec<u8>> = messages
            .unwrap()
            .iter()
            .map(|m| m.message.data.clone())
            .collect();
        assert!(left.is_empty(), "redelivered: {left:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_published_as_cloudevents() {
    let emulator = Emulator::pubsub();
    let pubsub = connect(&emulator).await;
    pubsub.ensure_topic("events").await.unwrap();
    pubsub
        .ensure_subscription("watch", "events", 10)
        .await
        .unwrap();
    let event = CloudEvent {
        specversion: "1.0".into(),
        id: "d-1-3".into(),
        source: "/infrastream/cd-manager".into(),
        event_type: "dev.infrastream.stage.succeeded".into(),
        subject: "d-1".into(),
        time: Timestamp(1_795_745_992_123),
        datacontenttype: "application/json".into(),
        data: serde_json::json!({ "stage": 0, "environments": ["development"] }),
    };
    pubsub.notifier("events").publish(&event).await.unwrap();

    // Read it back with the plain client, as any consumer would.
    let client =
        google_cloud_pubsub::client::Client::new(google_cloud_pubsub::client::ClientConfig {
            project_id: Some("infrastream-test".into()),
            environment: google_cloud_gax::conn::Environment::Emulator(emulator.host()),
            ..Default::default()
        })
        .await
        .unwrap();
    let messages = client.subscription("watch").pull(10, None).await.unwrap();
    assert_eq!(messages.len(), 1);
    let m = &messages[0].message;
    assert_eq!(m.attributes["ce-id"], "d-1-3");
    assert_eq!(m.attributes["ce-type"], "dev.infrastream.stage.succeeded");
    assert_eq!(m.attributes["ce-subject"], "d-1");
    assert_eq!(m.attributes["ce-time"], "2026-11-27T02:19:52.123Z");
    assert_eq!(m.attributes["content-type"], "application/json");
    let data: serde_json::Value = serde_json::from_slice(&m.data).unwrap();
    assert_eq!(data, event.data);
}
