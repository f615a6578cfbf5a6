//! `infrastream workflows publish` and `infrastream workflows pins update`: the GitHub side of
//! workflow generation, through `cd-github`.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use cd_github::workflows::{PullRequestOutcome, RepositoryFiles, RulesetOutcome};
use cd_github::{GithubApi, Installation};
use cd_workflows::pins::{ActionPin, Pins};
use clap::Args;

/// Where GitHub's API is.
#[derive(Debug, Args)]
pub(crate) struct Api {
    /// The GitHub API (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub(crate) github_api: String,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The manifest directory.
    pub(crate) manifests: PathBuf,
    /// A pin table to use instead of the built-in one.
    #[arg(long)]
    pub(crate) pins: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) api: Api,
    /// The GitHub App's id.
    #[arg(long, env = "INFRASTREAM_GITHUB_APP_ID")]
    pub(crate) app_id: String,
    /// The GitHub App's private key (PEM).
    #[arg(long, env = "INFRASTREAM_GITHUB_PRIVATE_KEY_FILE")]
    pub(crate) private_key_file: PathBuf,
    /// The installation to act as (default: the App's installation on each repository's
    /// owner).
    #[arg(long)]
    pub(crate) installation_id: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct PinsUpdateArgs {
    /// The pin table to refresh.
    #[arg(long, default_value = "workflows/pins.toml")]
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) api: Api,
    /// A token for the API (optional: the actions' repositories are public).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn describe_pull(outcome: &PullRequestOutcome) -> String {
    match outcome {
        PullRequestOutcome::UpToDate => "up to date, no pull request".into(),
        PullRequestOutcome::Opened(n) => format!("pull request #{n} opened"),
        PullRequestOutcome::Updated(n) => format!("pull request #{n} updated"),
        PullRequestOutcome::Unchanged(n) => {
            format!("pull request #{n} already carries the changes")
        }
        PullRequestOutcome::Closed(n) => format!("up to date, stale pull request #{n} closed"),
    }
}

fn describe_rulesets(outcomes: Option<&[(String, RulesetOutcome)]>) -> String {
    let Some(outcomes) = outcomes else {
        return "applied once the pull request is merged".into();
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, o) in outcomes {
        let word = match o {
            RulesetOutcome::Created => "created",
            RulesetOutcome::Updated => "updated",
            RulesetOutcome::Unchanged => "unchanged",
            RulesetOutcome::Deleted => "deleted",
        };
        *counts.entry(word).or_default() += 1;
    }
    counts
        .iter()
        .map(|(w, n)| format!("{n} {w}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn publish(args: &PublishArgs) -> ExitCode {
    let pins = match crate::workflows::load_pins(args.pins.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (catalog, files) = match crate::workflows::generated(&args.manifests, &pins) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let key = match fs::read_to_string(&args.private_key_file) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {}: {e}", args.private_key_file.display());
            return ExitCode::from(2);
        }
    };
    let planned = cd_workflows::plan(&catalog, &files);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut apis: BTreeMap<String, GithubApi> = BTreeMap::new();
    let mut failed = 0;
    for p in planned {
        if !apis.contains_key(&p.owner) {
            let installation = match args.installation_id {
                Some(id) => Installation::Id(id),
                None => Installation::Owner(p.owner.clone()),
            };
            match GithubApi::app(&args.api.github_api, &args.app_id, &key, installation) {
                Ok(api) => {
                    apis.insert(p.owner.clone(), api);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        let Some(api) = apis.get(&p.owner) else {
            continue;
        };
        let mut rulesets = Vec::new();
        for text in &p.rulesets {
            match serde_json::from_str(text) {
                Ok(v) => rulesets.push(v),
                Err(e) => {
                    eprintln!(
                        "error: {}: a generated ruleset is not JSON: {e}",
                        p.repository
                    );
                    return ExitCode::from(1);
                }
            }
        }
        let repo = RepositoryFiles {
            owner: p.owner.clone(),
            name: p.github_name.clone(),
            target_branch: p.target_branch.clone(),
            files: p.files.clone(),
            rulesets,
        };
        match rt.block_on(cd_github::workflows::publish(api, &repo)) {
            Ok(outcome) => {
                println!(
                    "{}/{}: {}; rulesets: {}",
                    p.owner,
                    p.github_name,
                    describe_pull(&outcome.pull_request),
                    describe_rulesets(outcome.rulesets.as_deref())
                );
                for path in &outcome.conflicts {
                    failed += 1;
                    eprintln!(
                        "error: {}/{}: {path} was written by hand; it is left as it is, not replaced by the generated one (remove it, or the manifest that asks for it)",
                        p.owner, p.github_name
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}/{}: {e}", p.owner, p.github_name);
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {failed} problem(s) publishing; the rest is done (a rerun converges)");
        ExitCode::from(1)
    }
}

pub(crate) fn pins_update(args: &PinsUpdateArgs) -> ExitCode {
    let text = match fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let mut pins = match Pins::parse(&text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let api = match GithubApi::token(&args.api.github_api, args.token.clone()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut changed = 0;
    for (action, pin) in &mut pins.actions {
        match rt.block_on(cd_github::workflows::latest_release(&api, action)) {
            Ok((tag, commit)) => {
                let fresh = ActionPin { tag, commit };
                if *pin == fresh {
                    println!(
                        "{action}: {} ({}) is the latest release",
                        pin.tag, pin.commit
                    );
                } else {
                    println!(
                        "{action}: {} ({}) -> {} ({})",
                        pin.tag, pin.commit, fresh.tag, fresh.commit
                    );
                    *pin = fresh;
                    changed += 1;
                }
            }
            Err(e) => {
                eprintln!("error: {action}: {e}; the pin table is unchanged");
                return ExitCode::from(1);
            }
        }
    }
    if changed == 0 {
        println!(
            "{}: every action is at its latest release",
            args.file.display()
        );
        return ExitCode::SUCCESS;
    }
    let tmp = args.file.with_extension("infrastream-tmp");
    let written = fs::write(&tmp, pins.to_toml()).and_then(|()| fs::rename(&tmp, &args.file));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        eprintln!("error: {}: {e}", args.file.display());
        return ExitCode::from(1);
    }
    println!(
        "{}: {changed} action(s) re-pinned; images are pinned by hand (their digests come from the registries)",
        args.file.display()
    );
    ExitCode::SUCCESS
}
