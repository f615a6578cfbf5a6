//! `infrastream serve` and `infrastream engine`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cd_service::config::{EngineKind, RegistryKind, read_file, sections};
use cd_service::engine::{EngineRunner, Webhook};
use cd_service::local::Overrides;
use cd_service::process::{init_logs, serve_until_signal, shutdown_signal};
use cd_service::{Config, StartError};
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// A TOML configuration file (see docs/OPERATIONS.md); INFRASTREAM_* variables override it.
    #[arg(long, env = "INFRASTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Where the API listens (port 0: any free port, printed on start).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// The data directory (default ./.infrastream).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed an empty manifest repository from this directory instead of the example tenant.
    #[arg(long)]
    manifests: Option<PathBuf>,
    /// Use this git remote for the manifests instead of the embedded bare repository.
    #[arg(long)]
    manifests_remote: Option<String>,
    /// Use this OCI registry (e.g. http://127.0.0.1:5000) instead of the embedded image layout.
    #[arg(long)]
    registry: Option<String>,
    /// `local` (run the engine in the service) or `webhook` (an external engine reports).
    #[arg(long, value_parser = ["local", "webhook"])]
    engine: Option<String>,
    /// The local engine's command, run per changed DeploymentConfig with APP, ENVIRONMENT,
    /// VERSION, FILE, DEPLOYMENT_ID and COMMIT set.
    #[arg(long)]
    engine_command: Option<String>,
    /// A source repository at a path of its own: GITHUB_REPOSITORY=PATH (a git repository,
    /// bare or not; repeatable). Others are bare repositories under DIR/sources.
    #[arg(long = "source", value_name = "REPOSITORY=PATH")]
    sources: Vec<String>,
}

/// The sections of `cd-manager`'s configuration whose adapters this command does not link.
const MANAGER_SECTIONS: &[&str] = &["pubsub", "github"];

/// Whether a configuration file has any of [`MANAGER_SECTIONS`].
#[derive(Default, serde::Deserialize)]
struct ManagerSections {
    pubsub: Option<serde::de::IgnoredAny>,
    github: Option<serde::de::IgnoredAny>,
}

fn load(path: Option<&std::path::Path>) -> Result<Config, StartError> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let (name, text) = (path.display().to_string(), read_file(path)?);
    let manager: ManagerSections = sections(&name, &text, MANAGER_SECTIONS)?;
    // The command line links the local adapters only: say so rather than ignore them.
    if manager.pubsub.is_some() || manager.github.is_some() {
        return Err(StartError::Unsupported(format!(
            "{name}: [github] and [pubsub] need the cd-manager binary"
        )));
    }
    Ok(Config::from_toml(&name, &text)?)
}

fn config_of(args: &ServeArgs) -> Result<Config, StartError> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut config = load(args.config.as_deref())?.with_env(&env)?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(d) = &args.dir {
        config.data_dir.clone_from(d);
    }
    if let Some(m) = &args.manifests {
        config.manifests.seed_from = Some(m.clone());
    }
    if let Some(r) = &args.manifests_remote {
        config.manifests.remote = Some(r.clone());
    }
    if let Some(r) = &args.registry {
        config.registry.kind = RegistryKind::Oci;
        config.registry.url = Some(r.clone());
    }
    match args.engine.as_deref() {
        Some("webhook") => config.engine.kind = EngineKind::Webhook,
        Some(_) => config.engine.kind = EngineKind::Local,
        None => {}
    }
    if let Some(c) = &args.engine_command {
        config.engine.command = Some(c.clone());
    }
    for source in &args.sources {
        let Some((name, path)) = source
            .split_once('=')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        else {
            return Err(StartError::Config(cd_service::config::ConfigError {
                source_name: "command line".into(),
                field: "--source".into(),
                reason: format!("'{source}' is not REPOSITORY=PATH"),
            }));
        };
        let path = std::path::absolute(path)
            .map_err(|e| StartError::Io(format!("--source {source}: {e}")))?;
        config.source.repositories.insert(name.to_string(), path);
    }
    config.check()?;
    Ok(config)
}

pub(crate) fn serve(args: &ServeArgs) -> ExitCode {
    init_logs();
    let result = (|| -> Result<(), StartError> {
        let config = config_of(args)?;
        let env: BTreeMap<String, String> = std::env::vars().collect();
        // The command line links the local adapters only.
        serve_until_signal(
            config,
            cd_service::tenant::example_files(),
            env,
            async |_: &Config, _: &BTreeMap<String, String>| Ok(Overrides::default()),
        )
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct EngineArgs {
    /// The manifest repository's git remote.
    #[arg(long)]
    remote: String,
    /// The branch to follow.
    #[arg(long, default_value = "main")]
    branch: String,
    /// The service whose status webhook receives reports.
    #[arg(
        long,
        env = "INFRASTREAM_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// The shared webhook secret (the service's `webhook-secret` file).
    #[arg(long, env = "INFRASTREAM_SECRET_FILE")]
    secret_file: PathBuf,
    /// Where the engine keeps its clone and its position.
    #[arg(long, default_value = ".infrastream/work/engine-runner")]
    workdir: PathBuf,
    /// The command run per changed DeploymentConfig (sh -c), with APP, ENVIRONMENT, VERSION,
    /// FILE, DEPLOYMENT_ID and COMMIT set; none: every run succeeds.
    #[arg(long)]
    command: Option<String>,
    /// Process the commits since the last run, then exit (invoke per push; keep `--workdir`
    /// between runs, or name where to start with `--since`).
    #[arg(long)]
    once: bool,
    /// Without a recorded position, start after this commit instead of at the branch head.
    #[arg(long)]
    since: Option<String>,
    /// Stop a command that runs longer than this (it counts as failed).
    #[arg(long, default_value_t = 900)]
    command_timeout_secs: u64,
    /// How often to look for commits.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
}

pub(crate) fn engine(args: &EngineArgs) -> ExitCode {
    init_logs();
    let result = (|| -> Result<(), StartError> {
        let secret = std::fs::read_to_string(&args.secret_file)
            .map_err(|e| StartError::Io(format!("{}: {e}", args.secret_file.display())))?;
        let reporter = Webhook::new(&args.server, secret.trim().as_bytes().to_vec())?;
        let mut git = cd_git::GitConfig::new(&args.remote, &args.workdir);
        git.branch.clone_from(&args.branch);
        git.token = std::env::var("INFRASTREAM_GIT_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        let runner = EngineRunner::with_git(git, args.command.clone(), Box::new(reporter))?
            .with_command_timeout(Duration::from_secs(args.command_timeout_secs.max(1)));
        let rt = tokio::runtime::Runtime::new().map_err(|e| StartError::Io(e.to_string()))?;
        rt.block_on(async {
            runner
                .ensure_start(args.since.as_deref())
                .await
                .map_err(StartError::Io)?;
            let first = runner.poll_once().await.map_err(StartError::Io)?;
            println!(
                "following {} ({} commits processed)",
                cd_service::config::redact_url(&args.remote),
                first
            );
            let _ = std::io::stdout().flush();
            if args.once {
                return Ok(());
            }
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = tx.send(true);
            });
            runner.run(Duration::from_millis(args.poll_ms), rx).await;
            Ok(())
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
