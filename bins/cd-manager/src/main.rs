//! `cd-manager`: the CD Manager service as a team deploys it.
//!
//! It runs the same service as `infrastream serve`, configured only by a TOML file and
//! `INFRASTREAM_*` environment variables (docs/OPERATIONS.md), and links the production
//! adapters the command line does not: Cloud Spanner for state (`store.kind = "spanner"`; the
//! schema is migrated at start; `SPANNER_EMULATOR_HOST` points it at an emulator) and Pub/Sub
//! for build notifications in and CloudEvents out (`[pubsub]`; `PUBSUB_EMULATOR_HOST`).
//! `cd-manager notify --topic` is CI's side. GitHub (`[github]`, as a GitHub App) creates
//! release branches and releases. Artifact Registry (`registry.kind = "artifact_registry"`)
//! is reached through its Docker endpoint with Google credentials.
//!
//! Exit codes: 0 after a graceful shutdown, 1 when the service cannot start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use cd_artifact_registry::GoogleCredentials;
use cd_core::pipeline::{BuildNotified, ChangelogDocument, Input};
use cd_github::GithubSourceHost;
use cd_pubsub::{Handled, Handler, PubSub, subscribe};
use cd_service::api::redeliver_notification;
use cd_service::config::{RegistryKind, StoreKind};
use cd_service::local::Overrides;
use cd_service::process::{init_logs, serve_until_signal};
use cd_service::{Config, Shared, StartError};
use cd_spanner::{Endpoint, SpannerStore};
use clap::{Args, Parser, Subcommand};

use crate::config::ManagerConfig;

mod config;

#[derive(Debug, Parser)]
#[command(
    name = "cd-manager",
    version,
    about = "The Infrastream CD Manager service"
)]
struct Cli {
    /// The configuration file; without one the service runs on embedded defaults.
    #[arg(long, env = "INFRASTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration, print it with defaults filled in, and exit.
    #[arg(long)]
    check: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// CI's side: publish a build notification to a Pub/Sub topic.
    Notify(Box<NotifyArgs>),
    /// Apply the Spanner schema migrations the configured database lacks, and exit: run it as a
    /// job before rolling out a version whose migrations build indexes (every start runs it
    /// too, and waits for it).
    Migrate,
}

#[derive(Debug, Args)]
struct NotifyArgs {
    /// The topic, `projects/P/topics/T` (or `T` with --project).
    #[arg(long)]
    topic: String,
    /// The project, when the topic is not a full name.
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT")]
    project: Option<String>,
    /// The BuildDefinition that built the image.
    #[arg(long)]
    build_definition: String,
    /// The image name.
    #[arg(long)]
    container: String,
    /// The image tag.
    #[arg(long)]
    version: String,
    /// The commit built.
    #[arg(long, env = "GITHUB_SHA", default_value = "")]
    commit: String,
    /// The source repository.
    #[arg(long, default_value = "")]
    repository: String,
    /// The git ref built.
    #[arg(long = "ref", env = "GITHUB_REF", default_value = "")]
    git_ref: String,
    /// The build's changelog, as `infrastream-ci changelog --format json` prints it: the
    /// deployment records its entries (DeploymentChangelogs).
    #[arg(long)]
    changelog: Option<std::path::PathBuf>,
}

/// `projects/P/topics/T` or `T` in `project`: (project, topic id).
fn topic_of(args: &NotifyArgs) -> Result<(String, String), String> {
    let parts: Vec<&str> = args.topic.split('/').collect();
    match (parts.as_slice(), &args.project) {
        (["projects", p, "topics", t], _) => Ok(((*p).to_string(), (*t).to_string())),
        ([t], Some(p)) => Ok((p.clone(), (*t).to_string())),
        _ => Err(format!(
            "--topic {}: give projects/P/topics/T, or a topic id with --project",
            args.topic
        )),
    }
}

fn notify(args: &NotifyArgs, env: &BTreeMap<String, String>) -> Result<(), String> {
    let (project, topic) = topic_of(args)?;
    let changelog = match &args.changelog {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str::<ChangelogDocument>(&text)
                .map_err(|e| format!("{}: not a changelog document: {e}", path.display()))?
                .entries
        }
        None => Vec::new(),
    };
    let notification = BuildNotified {
        build_definition_id: args.build_definition.clone(),
        container: args.container.clone(),
        version: args.version.clone(),
        commit_sha: args.commit.clone(),
        repository: args.repository.clone(),
        git_ref: args.git_ref.clone(),
        changelog,
        ..BuildNotified::default()
    };
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let pubsub = PubSub::connect(&cd_pubsub::Endpoint::from_env(env, &project)).await?;
        let id = pubsub.publish_notification(&topic, &notification).await?;
        println!("published {id}");
        Ok(())
    })
}

/// `cd-manager migrate`: the configured Spanner database's schema brought up to date.
fn migrate(config: &Config, env: &BTreeMap<String, String>) -> Result<(), StartError> {
    if config.store.kind != StoreKind::Spanner {
        println!("store.kind is sqlite: its schema is migrated when the service opens it");
        return Ok(());
    }
    let database = config.store.database.clone().unwrap_or_default();
    let rt = tokio::runtime::Runtime::new().map_err(|e| StartError::Io(e.to_string()))?;
    let applied = rt.block_on(SpannerStore::migrate(&Endpoint::from_env(env), &database))?;
    println!("{database}: schema up to date ({applied} migration(s) applied)");
    Ok(())
}

/// Hands Pub/Sub build notifications to the service.
struct Subscriber(Arc<Shared>);

#[async_trait::async_trait]
impl Handler for Subscriber {
    async fn handle(&self, notification: BuildNotified, message_id: &str) -> Handled {
        match self.0.accept(&Input::BuildNotified(notification)).await {
            Ok(decision) => {
                for id in &decision.deployments {
                    tracing::info!(deployment = %id, message_id, duplicate = decision.is_noop(), "notification from Pub/Sub");
                }
                Handled::Done
            }
            // An unknown build (the manifests naming it may not have reached us yet), an image
            // not yet in every registry, a store that did not answer: Pub/Sub delivers it
            // again (a dead-letter policy bounds how long). The push endpoint's rule too.
            Err(e) if redeliver_notification(&e) => {
                tracing::warn!(message_id, error = %e, "notification not taken; Pub/Sub will redeliver");
                Handled::Retry
            }
            // Refused for good (a bad version, ...): redelivery cannot help.
            Err(e) => {
                tracing::warn!(message_id, error = %e, "notification from Pub/Sub refused");
                Handled::Done
            }
        }
    }

    fn stream_state(&self, state: Result<(), String>) {
        self.0.health.report("subscriber", state);
    }
}

/// The production adapters the configuration names, in place of the local ones.
async fn production_adapters(
    config: &Config,
    own: &config::Sections,
    env: &BTreeMap<String, String>,
) -> Result<Overrides, StartError> {
    let mut overrides = Overrides::default();
    if config.store.kind == StoreKind::Spanner {
        let database = config.store.database.clone().unwrap_or_default();
        let endpoint = Endpoint::from_env(env);
        let applied = SpannerStore::migrate(&endpoint, &database).await?;
        tracing::info!(database, applied, "Spanner schema up to date");
        overrides.store = Some(Arc::new(SpannerStore::connect(&endpoint, &database).await?));
    }
    if let (Some(app_id), Some(installation_id), Some(owner), Some(key_file)) = (
        &own.github.app_id,
        own.github.installation_id,
        &own.github.owner,
        &own.github.private_key_file,
    ) {
        let private_key = std::fs::read_to_string(key_file)
            .map_err(|e| StartError::Io(format!("{}: {e}", key_file.display())))?;
        let host = GithubSourceHost::new(cd_github::GithubConfig {
            api: own.github.api.clone(),
            app_id: app_id.clone(),
            private_key,
            installation_id,
            owner: owner.clone(),
        })
        .map_err(|e| StartError::Io(format!("github: {e}")))?;
        overrides.source = Some(Arc::new(host));
    }
    if config.registry.kind == RegistryKind::ArtifactRegistry {
        let credentials = GoogleCredentials::from_adc().await?;
        let endpoint = cd_oci::Endpoint {
            url: config.registry.url.clone().unwrap_or_default(),
            prefix: config.registry.prefix.clone(),
            auth: cd_oci::Auth::Provider(Arc::new(credentials)),
        };
        overrides.registry = Some(Arc::new(cd_oci::OciRegistry::new(
            BTreeMap::new(),
            Some(endpoint),
        )?));
    }
    if let Some(project) = &own.pubsub.project {
        let pubsub = PubSub::connect(&cd_pubsub::Endpoint::from_env(env, project))
            .await
            .map_err(StartError::Io)?;
        if let Some(topic) = &own.pubsub.events_topic {
            overrides.notifier = Some(Arc::new(pubsub.notifier(topic)));
        }
        if let Some(subscription) = own.pubsub.notifications_subscription.clone() {
            overrides.background.push(Box::new(move |shared, stop| {
                Box::pin(async move {
                    let handler = Arc::new(Subscriber(shared));
                    subscribe(
                        &pubsub,
                        &subscription,
                        cd_service::api::parse_notification,
                        handler,
                        stop,
                    )
                    .await;
                })
            }));
        }
    }
    Ok(overrides)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    if let Some(Command::Notify(args)) = &cli.command {
        return match notify(args, &env) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    let result = (|| -> Result<(), StartError> {
        let ManagerConfig { service, own } = ManagerConfig::load(cli.config.as_deref(), &env)?;
        if let Some(Command::Migrate) = &cli.command {
            return migrate(&service, &env);
        }
        if cli.check {
            println!("{:#?}\n{own:#?}", service.redacted());
            return Ok(());
        }
        // An empty manifest remote is never seeded with an example in production.
        serve_until_signal(service, Vec::new(), env, async move |config, env| {
            production_adapters(config, &own, env).await
        })
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
