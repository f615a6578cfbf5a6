//! `compute-version` (of `infrastream-ci` and `infrastream`): on a real repository (the
//! current directory or `--repo`), or over explicit tags (`--tag`, `--merged-tag`,
//! `--head-tag`) for tests and other hosts.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::process::ExitCode;

use std::path::PathBuf;

use cd_core::version::{Bump, ReleaseType, VersionInputs, compute_version, parse_message};
use clap::ValueEnum;

use crate::git_facts;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// PR labels, comma-separated; an empty string means no labels.
    #[arg(long, default_value = "")]
    labels: String,
    /// Where the bump comes from: the labels, or the conventional commits since the base
    /// (`feat` -> minor, `!` or BREAKING CHANGE -> major), or the pull request of HEAD on
    /// GitHub (its labels; GITHUB_TOKEN and GITHUB_REPOSITORY are read).
    #[arg(long, value_enum, default_value_t = BumpFrom::Labels)]
    bump_from: BumpFrom,
    /// Shorthand for `--bump-from github`.
    #[arg(long, conflicts_with = "bump_from")]
    from_github: bool,
    /// The release type; without it, `--branch` and `--strategy` decide (else LATEST).
    #[arg(long, value_enum, ignore_case = true)]
    release_type: Option<ReleaseTypeArg>,
    /// The branch built, for `--strategy`.
    #[arg(long, env = "GITHUB_REF_NAME")]
    branch: Option<String>,
    /// How branches map to release types.
    #[arg(long, value_enum, default_value_t = Strategy::GithubFlow, ignore_case = true)]
    strategy: Strategy,
    /// The repository (default: the current directory).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Accept a shallow clone (its tags and history may be incomplete).
    #[arg(long)]
    allow_shallow: bool,
    /// A tag that exists in the repository (not merged into HEAD). Repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// A tag reachable from HEAD. Repeat for several.
    #[arg(long = "merged-tag", value_name = "TAG")]
    merged_tags: Vec<String>,
    /// A tag pointing at HEAD itself. Repeat for several.
    #[arg(long = "head-tag", value_name = "TAG")]
    head_tags: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BumpFrom {
    Labels,
    Commits,
    Github,
}

/// Branching strategies, as GithubRepository manifests name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum Strategy {
    GithubFlow,
    GitFlow,
    TrunkBased,
}

/// The release type of a branch (a decision, in docs/CLI.md): the primary branch releases
/// (LATEST); release branches take hotfixes; under GIT_FLOW `develop` builds alphas,
/// `release/*` betas and `hotfix/*` hotfixes; any other branch publishes nothing.
fn release_type_of(strategy: Strategy, branch: &str) -> ReleaseType {
    let primary = matches!(branch, "main" | "master");
    match strategy {
        _ if primary => ReleaseType::Latest,
        Strategy::GitFlow if branch == "develop" => ReleaseType::Alpha,
        Strategy::GitFlow if branch.starts_with("release/") => ReleaseType::Beta,
        Strategy::GitFlow if branch.starts_with("hotfix/") => ReleaseType::Hotfix,
        Strategy::GithubFlow | Strategy::TrunkBased if branch.starts_with("release/") => {
            ReleaseType::Hotfix
        }
        _ => ReleaseType::None,
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum ReleaseTypeArg {
    Latest,
    Alpha,
    Beta,
    Hotfix,
    None,
}

impl From<ReleaseTypeArg> for ReleaseType {
    fn from(value: ReleaseTypeArg) -> Self {
        match value {
            ReleaseTypeArg::Latest => ReleaseType::Latest,
            ReleaseTypeArg::Alpha => ReleaseType::Alpha,
            ReleaseTypeArg::Beta => ReleaseType::Beta,
            ReleaseTypeArg::Hotfix => ReleaseType::Hotfix,
            ReleaseTypeArg::None => ReleaseType::None,
        }
    }
}

fn labels_of(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn release_type_arg(args: &Args) -> ReleaseType {
    match (args.release_type, &args.branch) {
        (Some(t), _) => t.into(),
        (None, Some(branch)) => release_type_of(args.strategy, branch),
        (None, None) => ReleaseType::Latest,
    }
}

/// Builds the inputs from explicit tags: a tag at HEAD is also merged, and a merged tag also
/// exists.
fn explicit_inputs(args: &Args) -> VersionInputs {
    let mut merged = args.merged_tags.clone();
    merged.extend(args.head_tags.iter().cloned());
    let mut all = args.tags.clone();
    all.extend(merged.iter().cloned());
    all.sort();
    all.dedup();
    VersionInputs {
        bump: Some(Bump::from_labels(&labels_of(&args.labels))),
        release_type: Some(release_type_arg(args)),
        merged_tags: merged,
        head_tags: args.head_tags.clone(),
        all_tags: all,
    }
}

/// The labels of the pull request that produced `commit`, from the GitHub API.
fn github_labels(commit: &str) -> Result<Vec<String>, String> {
    let repository = std::env::var("GITHUB_REPOSITORY")
        .map_err(|_| "--bump-from github needs GITHUB_REPOSITORY (owner/name)".to_string())?;
    let token = std::env::var("GITHUB_TOKEN")
        .map_err(|_| "--bump-from github needs GITHUB_TOKEN".to_string())?;
    let api = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into());
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent
        .get(format!("{api}/repos/{repository}/commits/{commit}/pulls"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "infrastream-cd")
        .call()
        .map_err(|e| format!("GitHub: {e}"))?;
    // 422 is GitHub's "No commit found for SHA": the wrong repository, or an unpushed
    // commit. Guessing a patch bump there could ship a major change as a patch.
    if !response.status().is_success() {
        return Err(format!(
            "GitHub answered {} for the pull requests of {commit}",
            response.status()
        ));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("GitHub: {e}"))?;
    let pulls: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("GitHub: {e}"))?;
    Ok(pulls
        .as_array()
        .and_then(|l| l.first())
        .and_then(|pr| pr.get("labels"))
        .and_then(|l| l.as_array())
        .map(|l| {
            l.iter()
                .filter_map(|x| x.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

fn bump_from(args: &Args) -> BumpFrom {
    if args.from_github {
        BumpFrom::Github
    } else {
        args.bump_from
    }
}

/// Builds the inputs from the repository.
fn repo_inputs(args: &Args) -> Result<VersionInputs, String> {
    let repo = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let facts = git_facts::read(&repo, args.allow_shallow)?;
    let bump = match bump_from(args) {
        BumpFrom::Labels => Bump::from_labels(&labels_of(&args.labels)),
        BumpFrom::Github => Bump::from_labels(&github_labels(&facts.head)?),
        BumpFrom::Commits => git_facts::messages_since(&repo, facts.base.as_deref())?
            .iter()
            .filter_map(|m| parse_message(m).ok())
            .map(|c| c.bump())
            .max()
            .unwrap_or(Bump::Patch),
    };
    Ok(VersionInputs {
        bump: Some(bump),
        release_type: Some(release_type_arg(args)),
        merged_tags: facts.base.into_iter().collect(),
        head_tags: facts.head_tags,
        all_tags: facts.all_tags,
    })
}

fn inputs(args: &Args) -> Result<VersionInputs, String> {
    let explicit =
        !(args.tags.is_empty() && args.merged_tags.is_empty() && args.head_tags.is_empty());
    if explicit {
        if bump_from(args) != BumpFrom::Labels || args.repo.is_some() || args.allow_shallow {
            return Err(
                "--tag, --merged-tag and --head-tag give the inputs explicitly: --repo, \
                 --allow-shallow and --bump-from commits|github need a repository instead"
                    .into(),
            );
        }
        Ok(explicit_inputs(args))
    } else {
        repo_inputs(args)
    }
}

/// Prints `key=value` lines on stdout and appends them to `$GITHUB_OUTPUT` when it is set.
fn emit(lines: &[(&str, String)]) {
    let text: String = lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    print!("{text}");
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        let written = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            eprintln!("warning: cannot append to GITHUB_OUTPUT: {e}");
        }
    }
}

pub(crate) fn run(args: &Args) -> ExitCode {
    let inputs = match inputs(args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match compute_version(&inputs) {
        Ok(v) => {
            emit(&[
                ("current_version", v.current_version),
                ("target_version", v.target_version),
                ("skip", v.skip.to_string()),
                ("release_type", v.release_type.to_string()),
            ]);
            ExitCode::SUCCESS
        }
        Err(e) => {
            // The base is printed even on failure: workflows show it next to the error.
            emit(&[("current_version", e.current_version().to_string())]);
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
