//! `compute-version` (of `infrastream-ci` and `infrastream`): on a real repository (the
//! current directory or `--repo`), or over explicit tags (`--tag`, `--merged-tag`,
//! `--head-tag`) for tests and other hosts.

use std::process::ExitCode;

use std::path::PathBuf;

use cd_core::manifest::BranchStrategy;
use cd_core::version::{
    Bump, ReleaseType, VersionInputs, compute_version, parse_header, parse_message,
};
use clap::ValueEnum;

use crate::actions::{emit, summary};
use crate::git_facts;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// PR labels, comma-separated; an empty string means no labels.
    #[arg(long, default_value = "")]
    labels: String,
    /// The pull request's title: with `--labels`, a release label wins, else the title's
    /// conventional type decides (the rule `--bump-from github` applies to a merged one).
    #[arg(long)]
    pr_title: Option<String>,
    /// Where the bump comes from: the labels, or the conventional commits since the base
    /// (`feat` -> minor, `!` or BREAKING CHANGE -> major), or the pull request of HEAD on
    /// GitHub (its labels; GITHUB_TOKEN and GITHUB_REPOSITORY are read).
    #[arg(long, value_enum, default_value_t = BumpFrom::Labels)]
    bump_from: BumpFrom,
    /// Shorthand for `--bump-from github`.
    #[arg(long, conflicts_with = "bump_from")]
    from_github: bool,
    /// With `--bump-from github`: label the pull request with the release it made
    /// (`release/<bump>`, and `scope/<scope>` from its title). Needs a token that may write
    /// pull requests; a refusal is a warning, never a failure.
    #[arg(long)]
    apply_labels: bool,
    /// The release type; without it, `--branch` and `--strategy` decide (else LATEST).
    #[arg(long, value_enum, ignore_case = true)]
    release_type: Option<ReleaseTypeArg>,
    /// The branch built, for `--strategy`.
    #[arg(long, env = "GITHUB_REF_NAME")]
    branch: Option<String>,
    /// How branches map to release types: GITHUB_FLOW, GIT_FLOW or TRUNK_BASED.
    #[arg(long, default_value = "GITHUB_FLOW", value_parser = parse_strategy)]
    strategy: BranchStrategy,
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

/// A strategy as GithubRepository manifests spell it (any case).
fn parse_strategy(text: &str) -> Result<BranchStrategy, String> {
    BranchStrategy::parse(&text.to_ascii_uppercase())
        .ok_or_else(|| format!("expected one of {}", BranchStrategy::known()))
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
        (None, Some(branch)) => cd_workflows::branching::release_type_of(args.strategy, branch),
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
        bump: Some(labelled_bump(args)),
        release_type: Some(release_type_arg(args)),
        merged_tags: merged,
        head_tags: args.head_tags.clone(),
        all_tags: all,
    }
}

/// The pull request that produced a commit, as GitHub lists it.
#[derive(Clone, Debug, Default)]
struct Pull {
    number: u64,
    title: String,
    labels: Vec<String>,
}

impl Pull {
    /// The release labels win; else the conventional title decides; else patch.
    fn bump(&self) -> Bump {
        let labelled = self
            .labels
            .iter()
            .any(|l| cd_core::version::RELEASE_LABELS.contains(&l.as_str()));
        if labelled {
            Bump::from_labels(&self.labels)
        } else {
            parse_header(&self.title).map_or(Bump::Patch, |c| c.bump())
        }
    }
}

/// Where GitHub is and who we are there: `GITHUB_API_URL`, `GITHUB_REPOSITORY`,
/// `GITHUB_TOKEN`.
struct Github {
    api: String,
    repository: String,
    token: String,
    agent: ureq::Agent,
}

impl Github {
    fn from_env() -> Result<Github, String> {
        let repository = std::env::var("GITHUB_REPOSITORY")
            .map_err(|_| "--bump-from github needs GITHUB_REPOSITORY (owner/name)".to_string())?;
        let token = std::env::var("GITHUB_TOKEN")
            .map_err(|_| "--bump-from github needs GITHUB_TOKEN".to_string())?;
        let api =
            std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into());
        let agent = crate::http::agent();
        Ok(Github {
            api,
            repository,
            token,
            agent,
        })
    }

    /// The pull request that produced `commit`, if any.
    fn pull_of(&self, commit: &str) -> Result<Option<Pull>, String> {
        let mut response = self
            .agent
            .get(format!(
                "{}/repos/{}/commits/{commit}/pulls",
                self.api, self.repository
            ))
            .header("authorization", format!("Bearer {}", self.token))
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
        let Some(pr) = pulls.as_array().and_then(|l| l.first()) else {
            return Ok(None);
        };
        Ok(Some(Pull {
            number: pr
                .get("number")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            title: pr
                .get("title")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_string(),
            labels: pr
                .get("labels")
                .and_then(|l| l.as_array())
                .map(|l| {
                    l.iter()
                        .filter_map(|x| x.get("name").and_then(|n| n.as_str()).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }))
    }

    /// Adds `labels` to pull request `number` (GitHub creates labels it does not know).
    fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), String> {
        let body = serde_json::json!({ "labels": labels }).to_string();
        let response = self
            .agent
            .post(format!(
                "{}/repos/{}/issues/{number}/labels",
                self.api, self.repository
            ))
            .header("authorization", format!("Bearer {}", self.token))
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "infrastream-cd")
            .header("content-type", "application/json")
            .send(body.as_bytes())
            .map_err(|e| format!("GitHub: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("GitHub answered {}", response.status()))
        }
    }
}

/// The highest bump the conventional ones among `messages` ask for; patch when none does.
fn commits_bump(messages: &[String]) -> Bump {
    messages
        .iter()
        .filter_map(|m| parse_message(m).ok())
        .map(|c| c.bump())
        .max()
        .unwrap_or(Bump::Patch)
}

/// `--labels`, and with `--pr-title` the pull request's rule: a release label wins, else the
/// title decides.
fn labelled_bump(args: &Args) -> Bump {
    let labels = labels_of(&args.labels);
    match &args.pr_title {
        Some(title) => Pull {
            number: 0,
            title: title.clone(),
            labels,
        }
        .bump(),
        None => Bump::from_labels(&labels),
    }
}

/// The labels a merged pull request gets: the release it made, and its title's scope.
fn release_labels(pull: &Pull, bump: Bump) -> Vec<String> {
    let mut labels = vec![format!("release/{}", bump_word(bump))];
    if let Ok(c) = parse_header(&pull.title)
        && let Some(scope) = c.labels().scope
    {
        labels.push(scope);
    }
    labels
}

fn bump_word(bump: Bump) -> &'static str {
    match bump {
        Bump::Major => "major",
        Bump::Minor => "minor",
        Bump::Patch => "patch",
    }
}

fn bump_from(args: &Args) -> BumpFrom {
    if args.from_github {
        BumpFrom::Github
    } else {
        args.bump_from
    }
}

/// Builds the inputs from the repository; with `--bump-from github`, also the pull request
/// the bump came from.
fn repo_inputs(args: &Args) -> Result<(VersionInputs, Option<(Github, Pull)>), String> {
    let repo = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let facts = git_facts::read(&repo, args.allow_shallow)?;
    let mut pull = None;
    let bump = match bump_from(args) {
        BumpFrom::Labels => labelled_bump(args),
        BumpFrom::Github => {
            let github = Github::from_env()?;
            match github.pull_of(&facts.head)? {
                // Pushes whose runs were cancelled (a newer push replaces a pending run) left
                // their changes unreleased: their squashed subjects since the base count too.
                Some(p) => {
                    let earlier =
                        git_facts::messages_between(&repo, facts.base.as_deref(), "HEAD^1")?;
                    let bump = p.bump().max(commits_bump(&earlier));
                    pull = Some((github, p));
                    bump
                }
                None => commits_bump(&git_facts::messages_between(
                    &repo,
                    facts.base.as_deref(),
                    "HEAD",
                )?),
            }
        }
        BumpFrom::Commits => commits_bump(&git_facts::messages_between(
            &repo,
            facts.base.as_deref(),
            "HEAD",
        )?),
    };
    let inputs = VersionInputs {
        bump: Some(bump),
        release_type: Some(release_type_arg(args)),
        merged_tags: facts.base.into_iter().collect(),
        head_tags: facts.head_tags,
        all_tags: facts.all_tags,
    };
    Ok((inputs, pull))
}

fn inputs(args: &Args) -> Result<(VersionInputs, Option<(Github, Pull)>), String> {
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
        Ok((explicit_inputs(args), None))
    } else {
        repo_inputs(args)
    }
}

pub(crate) fn run(args: &Args) -> ExitCode {
    if args.apply_labels && bump_from(args) != BumpFrom::Github {
        eprintln!("error: --apply-labels labels the pull request --bump-from github found");
        return ExitCode::from(2);
    }
    let (inputs, pull) = match inputs(args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match compute_version(&inputs) {
        Ok(v) => {
            summary(&format!(
                "Version: `{}` ({}, {} from base `{}`){}\n",
                v.target_version,
                v.release_type,
                bump_word(v.bump),
                v.current_version,
                if v.skip { "; nothing is released" } else { "" }
            ));
            if let (true, false, Some((github, pull))) = (args.apply_labels, v.skip, &pull) {
                let labels = release_labels(pull, v.bump);
                match github.add_labels(pull.number, &labels) {
                    Ok(()) => eprintln!("labelled #{}: {}", pull.number, labels.join(", ")),
                    Err(e) => println!(
                        "::warning title=Labels::could not label #{}: {}",
                        pull.number,
                        e.replace(['\r', '\n'], " ")
                    ),
                }
            }
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
