//! `cd-pubsub`: Google Cloud Pub/Sub for the CD Manager. Build notifications come in through a
//! subscription; the pipeline's CloudEvents go out to a topic.
//!
//! - **In**: [`subscribe`] streams a subscription and hands each build notification to a
//!   [`Handler`]. A message is acknowledged only after the handler says the decision is stored
//!   (or can never be: a malformed or refused notification); otherwise it is nacked, so Pub/Sub
//!   delivers it again. Repeats are harmless: the pipeline deduplicates notifications.
//! - **Out**: [`PubSubNotifier`] publishes each CloudEvent in the binary content mode of the
//!   CloudEvents Pub/Sub binding: the payload is the event's `data`, the context is in `ce-*`
//!   attributes.
//!
//! The crate is `gcloud-pubsub`, the same stack as the Spanner adapter. Against the emulator
//! use [`Endpoint::Emulator`]; otherwise credentials come from Application Default Credentials.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cd_core::pipeline::{BuildNotified, CloudEvent};
use cd_ports::{Notifier, NotifyError};
use futures_util::StreamExt as _;
use google_cloud_gax::conn::Environment;
use google_cloud_gax::grpc::Code;
use google_cloud_googleapis::pubsub::v1::PubsubMessage;
use google_cloud_pubsub::client::{Client, ClientConfig};
use google_cloud_pubsub::publisher::Publisher;
use google_cloud_pubsub::subscription::SubscriptionConfig;
use tokio::sync::watch;

/// Where the Pub/Sub API is, and the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Google Cloud with Application Default Credentials.
    Google {
        /// The project.
        project: String,
    },
    /// An emulator at `host:port`.
    Emulator {
        /// `host:port`.
        host: String,
        /// The project.
        project: String,
    },
}

impl Endpoint {
    /// The emulator `PUBSUB_EMULATOR_HOST` names in `env`, else Google; in `project`.
    #[must_use]
    pub fn from_env(env: &BTreeMap<String, String>, project: &str) -> Self {
        match env.get("PUBSUB_EMULATOR_HOST").filter(|h| !h.is_empty()) {
            Some(host) => Endpoint::Emulator {
                host: host.clone(),
                project: project.to_string(),
            },
            None => Endpoint::Google {
                project: project.to_string(),
            },
        }
    }
}

/// A Pub/Sub client.
#[derive(Clone)]
pub struct PubSub {
    client: Client,
}

impl std::fmt::Debug for PubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PubSub")
    }
}

impl PubSub {
    /// Connects.
    ///
    /// # Errors
    /// When the client cannot be built or credentials are missing.
    pub async fn connect(endpoint: &Endpoint) -> Result<Self, String> {
        let config = match endpoint {
            Endpoint::Google { project } => ClientConfig {
                project_id: Some(project.clone()),
                ..ClientConfig::default()
            }
            .with_auth()
            .await
            .map_err(|e| e.to_string())?,
            Endpoint::Emulator { host, project } => ClientConfig {
                project_id: Some(project.clone()),
                environment: Environment::Emulator(host.clone()),
                ..ClientConfig::default()
            },
        };
        let client = Client::new(config).await.map_err(|e| e.to_string())?;
        Ok(PubSub { client })
    }

    /// Creates `topic` unless it exists.
    ///
    /// # Errors
    /// The API's error.
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), String> {
        let t = self.client.topic(topic);
        if !t.exists(None).await.map_err(|e| e.to_string())? {
            t.create(None, None).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Creates `subscription` on `topic` unless it exists, with `ack_deadline_seconds`.
    ///
    /// # Errors
    /// The API's error.
    pub async fn ensure_subscription(
        &self,
        subscription: &str,
        topic: &str,
        ack_deadline_seconds: i32,
    ) -> Result<(), String> {
        let s = self.client.subscription(subscription);
        if !s.exists(None).await.map_err(|e| e.to_string())? {
            let fqtn = self.client.topic(topic).fully_qualified_name().to_string();
            let config = SubscriptionConfig {
                ack_deadline_seconds,
                ..SubscriptionConfig::default()
            };
            s.create(&fqtn, config, None)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// A notifier publishing to `topic`.
    #[must_use]
    pub fn notifier(&self, topic: &str) -> PubSubNotifier {
        PubSubNotifier {
            publisher: self.client.topic(topic).new_publisher(None),
        }
    }

    /// Publishes one build notification (what CI does); returns the message id.
    ///
    /// # Errors
    /// The API's error.
    pub async fn publish_notification(
        &self,
        topic: &str,
        notification: &BuildNotified,
    ) -> Result<String, String> {
        let data = serde_json::to_vec(notification).map_err(|e| e.to_string())?;
        self.publish_raw(topic, data, HashMap::new()).await
    }

    /// Publishes raw bytes with `attributes`; returns the message id.
    ///
    /// # Errors
    /// The API's error.
    pub async fn publish_raw(
        &self,
        topic: &str,
        data: Vec<u8>,
        attributes: HashMap<String, String>,
    ) -> Result<String, String> {
        let mut publisher = self.client.topic(topic).new_publisher(None);
        let awaiter = publisher
            .publish(PubsubMessage {
                data,
                attributes,
                ..PubsubMessage::default()
            })
            .await;
        let id = awaiter.get().await.map_err(|e| e.to_string());
        publisher.shutdown().await;
        id
    }

    fn client(&self) -> &Client {
        &self.client
    }
}

/// Publishes CloudEvents to a topic.
#[derive(Clone)]
pub struct PubSubNotifier {
    publisher: Publisher,
}

impl std::fmt::Debug for PubSubNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PubSubNotifier")
    }
}

/// The `ce-*` attributes of the CloudEvents Pub/Sub binding (binary content mode).
#[must_use]
pub fn attributes(event: &CloudEvent) -> HashMap<String, String> {
    HashMap::from([
        ("ce-specversion".to_string(), event.specversion.clone()),
        ("ce-id".to_string(), event.id.clone()),
        ("ce-source".to_string(), event.source.clone()),
        ("ce-type".to_string(), event.event_type.clone()),
        ("ce-subject".to_string(), event.subject.clone()),
        ("ce-time".to_string(), event.time.rfc3339()),
        ("content-type".to_string(), event.datacontenttype.clone()),
    ])
}

#[async_trait]
impl Notifier for PubSubNotifier {
    async fn publish(&self, event: &CloudEvent) -> Result<(), NotifyError> {
        let data =
            serde_json::to_vec(&event.data).map_err(|e| NotifyError::Rejected(e.to_string()))?;
        let awaiter = self
            .publisher
            .publish(PubsubMessage {
                data,
                attributes: attributes(event),
                ..PubsubMessage::default()
            })
            .await;
        awaiter.get().await.map(|_| ()).map_err(|s| {
            let detail = format!("{:?}: {}", s.code(), s.message());
            // A missing topic or a missing permission does not heal by retrying.
            match s.code() {
                Code::NotFound | Code::PermissionDenied | Code::InvalidArgument => {
                    NotifyError::Rejected(detail)
                }
                _ => NotifyError::Unavailable(detail),
            }
        })
    }
}

/// What became of a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// The decision is stored, or the notification can never succeed: acknowledge it.
    Done,
    /// Not stored for a transient reason: let Pub/Sub deliver it again.
    Retry,
}

/// Takes build notifications from the subscription.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Handles one notification.
    async fn handle(&self, notification: BuildNotified, message_id: &str) -> Handled;

    /// The stream's state, each time it changes: `Ok` once the stream is open, `Err` saying
    /// why not while it is not (a service reports it in its readiness).
    fn stream_state(&self, state: Result<(), String>) {
        let _ = state;
    }
}

/// Reads a message's data as a build notification, or says why it is not one: the service's
/// own reader, so a notification means the same whether it arrives over HTTP, pushed by
/// Pub/Sub or streamed from a subscription.
pub type Parse = fn(&[u8]) -> Result<BuildNotified, String>;

/// The longest pause before a message that could not be stored is handed back.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Streams `subscription` into `handler` until `stop` turns true. When the stream cannot be
/// opened or ends (a lost permission, a recreated subscription, a network failure), it is
/// opened again after a growing wait: the subscriber never stops while the service runs.
///
/// The subscription must allow `pubsub.subscriptions.consume` and `pubsub.subscriptions.get`
/// (the client reads the subscription's settings when it opens the stream).
pub async fn subscribe(
    pubsub: &PubSub,
    subscription: &str,
    parse: Parse,
    handler: Arc<dyn Handler>,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(1);
    handler.stream_state(Err(format!("opening the stream of {subscription}")));
    loop {
        match stream_once(pubsub, subscription, parse, &handler, &mut stop).await {
            Ok(()) if *stop.borrow() => return,
            Ok(()) => {
                handler.stream_state(Err(format!(
                    "the stream of {subscription} ended; opening it again"
                )));
                tracing::error!(subscription, "the Pub/Sub stream ended; opening it again");
            }
            Err(e) => {
                handler.stream_state(Err(format!("cannot stream {subscription}: {e}")));
                tracing::error!(subscription, error = %e, retry_in_s = wait.as_secs(), "cannot stream the Pub/Sub subscription; will retry")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = (wait * 2).min(Duration::from_secs(60));
    }
}

async fn stream_once(
    pubsub: &PubSub,
    subscription: &str,
    parse: Parse,
    handler: &Arc<dyn Handler>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let sub = pubsub.client().subscription(subscription);
    let mut stream = sub.subscribe(None).await.map_err(|e| e.to_string())?;
    handler.stream_state(Ok(()));
    let mut pause = Duration::ZERO;
    loop {
        let message = tokio::select! {
            m = stream.next() => m,
            _ = stop.changed() => None,
        };
        let Some(message) = message else { break };
        let id = message.message.message_id.clone();
        let verdict = match parse(&message.message.data) {
            Ok(n) => {
                // In a task of its own: a panic while deciding becomes a retry, not the end of
                // the subscriber.
                let handler = handler.clone();
                let message_id = id.clone();
                tokio::spawn(async move { handler.handle(n, &message_id).await })
                    .await
                    .unwrap_or(Handled::Retry)
            }
            Err(e) => {
                // It can never succeed: redelivering it forever would only hide the others.
                tracing::error!(message_id = %id, error = %e, "malformed build notification; acknowledged and dropped");
                Handled::Done
            }
        };
        let acked = match verdict {
            Handled::Done => {
                pause = Duration::ZERO;
                message.ack().await
            }
            Handled::Retry => {
                // Pub/Sub redelivers a nack at once: pause first, longer while it goes on, so
                // an outage is not a hot loop.
                pause = (pause * 2).clamp(Duration::from_millis(250), MAX_RETRY_PAUSE);
                tokio::time::sleep(pause).await;
                message.nack().await
            }
        };
        if let Err(e) = acked {
            tracing::warn!(message_id = %id, error = %e, "ack/nack failed; Pub/Sub will redeliver");
        }
    }
    stream.dispose().await;
    Ok(())
}
