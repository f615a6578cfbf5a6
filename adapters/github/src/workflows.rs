//! Generated CI workflows on GitHub: one pull request per repository carrying the changed
//! files (never a push to a protected branch), the rulesets applied through the API, and the
//! latest release of each pinned action.
//!
//! Idempotent: a repository whose files match gets no commit and no pull request (a stale one
//! still open is closed); a second run with the same files changes nothing, even after the
//! target branch moved; new files update the open pull request rather than opening another.
//! The branch is rebuilt from the target branch on every change, so it never carries stale
//! commits. A file a person wrote where the generator would write is never replaced. The
//! rulesets follow the merge.

// Indexing a serde_json::Value by key or position yields Null when absent; it never panics.
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cd_ports::SourceError;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{GithubApi, commit_of_tag, error_of, repo_path, unavailable};

/// The branch the pull request comes from: a conventional `ci/` branch, which every
/// generated branch rule lets merge into the integration branch.
pub const BRANCH: &str = "ci/infrastream-workflows";

/// The pull request's title (and the commit's subject): conventional, as the merge gate asks.
pub const TITLE: &str = "ci: update the generated CI workflows";

/// Prefix of the rulesets this engine manages; others are never touched.
pub use cd_workflows::rulesets::NAME_PREFIX as RULESET_PREFIX;

/// What one repository should hold.
#[derive(Clone, Debug, Default)]
pub struct RepositoryFiles {
    /// The GitHub owner.
    pub owner: String,
    /// The repository's name on GitHub.
    pub name: String,
    /// The branch the pull request targets (`None`: the repository's default branch).
    pub target_branch: Option<String>,
    /// Path in the repository -> content.
    pub files: BTreeMap<String, String>,
    /// Ruleset request bodies, each with a `name` starting with [`RULESET_PREFIX`].
    pub rulesets: Vec<Value>,
}

/// What happened to the pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullRequestOutcome {
    /// The target branch already holds exactly the generated files: no pull request.
    UpToDate,
    /// A pull request was opened.
    Opened(u64),
    /// The open pull request's branch was updated with the new files.
    Updated(u64),
    /// The open pull request already carries exactly these changes.
    Unchanged(u64),
    /// The target already holds the files; the pull request still open was closed.
    Closed(u64),
}

/// What happened to a ruleset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RulesetOutcome {
    /// It did not exist.
    Created,
    /// It differed and was replaced.
    Updated,
    /// It already matched.
    Unchanged,
    /// The manifests no longer ask for it.
    Deleted,
}

/// The outcome for one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The pull request.
    pub pull_request: PullRequestOutcome,
    /// Paths where the generator would write that hold a file a person wrote: left alone.
    pub conflicts: Vec<String>,
    /// Each ruleset by name; `None` while the files wait in a pull request (the rulesets
    /// require the check its workflows provide, so they follow the merge).
    pub rulesets: Option<Vec<(String, RulesetOutcome)>>,
}

/// A call that must answer `expected`.
async fn expect(
    api: &GithubApi,
    method: Method,
    path: &str,
    body: Option<&Value>,
    expected: StatusCode,
    what: &str,
) -> Result<Value, SourceError> {
    let (status, value) = api.call(method, path, body).await?;
    if status == expected {
        Ok(value)
    } else {
        Err(error_of(status, &value, what))
    }
}

/// A file's text at `reference`, or `None` when it does not exist.
async fn file_at(
    api: &GithubApi,
    repo: &str,
    path: &str,
    reference: &str,
) -> Result<Option<String>, SourceError> {
    let (status, body) = api
        .call(
            Method::GET,
            &format!("{repo}/contents/{path}?ref={reference}"),
            None,
        )
        .await?;
    match status {
        StatusCode::NOT_FOUND => Ok(None),
        StatusCode::OK if body["type"] == "file" => {
            let encoded: String = body["content"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let bytes = STANDARD
                .decode(encoded)
                .map_err(|e| unavailable(format!("{path}: GitHub's base64: {e}")))?;
            Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
        }
        StatusCode::OK => Ok(None),
        s => Err(error_of(s, &body, path)),
    }
}

/// The files of directory `dir` at `reference` (not recursive).
async fn files_in(
    api: &GithubApi,
    repo: &str,
    dir: &str,
    reference: &str,
) -> Result<Vec<String>, SourceError> {
    let (status, body) = api
        .call(
            Method::GET,
            &format!("{repo}/contents/{dir}?ref={reference}"),
            None,
        )
        .await?;
    match status {
        StatusCode::NOT_FOUND => Ok(Vec::new()),
        StatusCode::OK => Ok(body
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["type"] == "file")
                    .filter_map(|e| e["path"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()),
        s => Err(error_of(s, &body, dir)),
    }
}

/// The files at `reference` where the generator writes (`.github/workflows`, its own
/// directories, `CODEOWNERS`): which paths exist, and the generator's among them.
struct Present {
    paths: std::collections::BTreeSet<String>,
    generated: BTreeMap<String, String>,
}

async fn generated_at(
    api: &GithubApi,
    repo: &str,
    reference: &str,
) -> Result<Present, SourceError> {
    let mut paths = vec![".github/CODEOWNERS".to_string()];
    for dir in [
        ".github/workflows",
        ".github/infrastream",
        ".github/rulesets",
    ] {
        paths.extend(files_in(api, repo, dir, reference).await?);
    }
    let mut present = Present {
        paths: std::collections::BTreeSet::new(),
        generated: BTreeMap::new(),
    };
    for path in paths {
        if let Some(text) = file_at(api, repo, &path, reference).await? {
            present.paths.insert(path.clone());
            if cd_workflows::is_generated(&path, &text) {
                present.generated.insert(path, text);
            }
        }
    }
    Ok(present)
}

/// `(sha of the commit a branch names, its tree, its parents)`, or `None`.
async fn branch_head(
    api: &GithubApi,
    repo: &str,
    branch: &str,
) -> Result<Option<(String, String, Vec<String>)>, SourceError> {
    let (status, body) = api
        .call(Method::GET, &format!("{repo}/git/ref/heads/{branch}"), None)
        .await?;
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if status != StatusCode::OK {
        return Err(error_of(status, &body, &format!("branch {branch}")));
    }
    let sha = body["object"]["sha"]
        .as_str()
        .ok_or_else(|| unavailable("no object.sha in GitHub's answer"))?
        .to_string();
    let commit = expect(
        api,
        Method::GET,
        &format!("{repo}/git/commits/{sha}"),
        None,
        StatusCode::OK,
        "the commit",
    )
    .await?;
    let tree = commit["tree"]["sha"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let parents = commit["parents"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|x| x["sha"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some((sha, tree, parents)))
}

/// The open pull request from [`BRANCH`] into `target`, if any.
async fn open_pull(
    api: &GithubApi,
    repo: &str,
    owner: &str,
    target: &str,
) -> Result<Option<u64>, SourceError> {
    let open = expect(
        api,
        Method::GET,
        &format!("{repo}/pulls?state=open&head={owner}:{BRANCH}&base={target}"),
        None,
        StatusCode::OK,
        "the open pull requests",
    )
    .await?;
    Ok(open
        .as_array()
        .and_then(|l| l.first())
        .and_then(|p| p["number"].as_u64()))
}

/// Opens, updates or closes the pull request that brings `repository.files` to the target
/// branch; answers its outcome and the paths left alone because a person wrote them.
async fn pull_request(
    api: &GithubApi,
    repo: &str,
    repository: &RepositoryFiles,
) -> Result<(PullRequestOutcome, Vec<String>), SourceError> {
    let about = expect(
        api,
        Method::GET,
        repo,
        None,
        StatusCode::OK,
        "the repository",
    )
    .await?;
    let target = match &repository.target_branch {
        Some(b) => b.clone(),
        None => about["default_branch"]
            .as_str()
            .ok_or_else(|| unavailable("no default_branch in GitHub's answer"))?
            .to_string(),
    };
    let Some((base, base_tree, _)) = branch_head(api, repo, &target).await? else {
        return Err(SourceError::NotFound(format!(
            "branch {target} of {}/{}",
            repository.owner, repository.name
        )));
    };
    let present = generated_at(api, repo, &target).await?;
    // A file a person wrote where the generator would write is never replaced: it is named.
    let conflicts: Vec<String> = repository
        .files
        .keys()
        .filter(|p| present.paths.contains(*p) && !present.generated.contains_key(*p))
        .cloned()
        .collect();
    let wanted: BTreeMap<&String, &String> = repository
        .files
        .iter()
        .filter(|(p, _)| !conflicts.contains(p))
        .collect();
    let mut entries = Vec::new();
    for (path, text) in &wanted {
        if present.generated.get(*path) != Some(*text) {
            entries
                .push(json!({ "path": path, "mode": "100644", "type": "blob", "content": text }));
        }
    }
    for path in present.generated.keys().filter(|p| !wanted.contains_key(p)) {
        entries.push(json!({ "path": path, "mode": "100644", "type": "blob", "sha": null }));
    }
    let open = open_pull(api, repo, &repository.owner, &target).await?;
    if entries.is_empty() {
        // The target already holds the files: a pull request still open would only undo them.
        if let Some(number) = open {
            expect(
                api,
                Method::PATCH,
                &format!("{repo}/pulls/{number}"),
                Some(&json!({ "state": "closed" })),
                StatusCode::OK,
                "closing the stale pull request",
            )
            .await?;
            return Ok((PullRequestOutcome::Closed(number), conflicts));
        }
        return Ok((PullRequestOutcome::UpToDate, conflicts));
    }
    // The branch already carries exactly these files (the target may have moved since): leave
    // it, so reviews and runs are not thrown away.
    let existing = branch_head(api, repo, BRANCH).await?;
    let current = match &existing {
        Some(_) => {
            let on_branch = generated_at(api, repo, BRANCH).await?;
            on_branch.generated.len() == wanted.len()
                && wanted
                    .iter()
                    .all(|(p, t)| on_branch.generated.get(*p) == Some(*t))
        }
        None => false,
    };
    if !current {
        let tree = expect(
            api,
            Method::POST,
            &format!("{repo}/git/trees"),
            Some(&json!({ "base_tree": base_tree, "tree": entries })),
            StatusCode::CREATED,
            "the tree",
        )
        .await?;
        let tree = tree["sha"]
            .as_str()
            .ok_or_else(|| unavailable("no sha in GitHub's tree"))?;
        let commit = expect(
            api,
            Method::POST,
            &format!("{repo}/git/commits"),
            Some(&json!({
                "message": format!("{TITLE}\n\nGenerated by `infrastream workflows generate` from the manifests."),
                "tree": tree,
                "parents": [base],
            })),
            StatusCode::CREATED,
            "the commit",
        )
        .await?;
        let sha = commit["sha"]
            .as_str()
            .ok_or_else(|| unavailable("no sha in GitHub's commit"))?;
        if existing.is_some() {
            // Our own branch, rebuilt from the target: forcing it drops only our commits.
            expect(
                api,
                Method::PATCH,
                &format!("{repo}/git/refs/heads/{BRANCH}"),
                Some(&json!({ "sha": sha, "force": true })),
                StatusCode::OK,
                "moving the branch",
            )
            .await?;
        } else {
            expect(
                api,
                Method::POST,
                &format!("{repo}/git/refs"),
                Some(&json!({ "ref": format!("refs/heads/{BRANCH}"), "sha": sha })),
                StatusCode::CREATED,
                "creating the branch",
            )
            .await?;
        }
    }
    if let Some(number) = open {
        let outcome = if current {
            PullRequestOutcome::Unchanged(number)
        } else {
            PullRequestOutcome::Updated(number)
        };
        return Ok((outcome, conflicts));
    }
    let created = expect(
        api,
        Method::POST,
        &format!("{repo}/pulls"),
        Some(&json!({
            "title": TITLE,
            "head": BRANCH,
            "base": target,
            "body": "The CI workflows, Dockerfiles, CODEOWNERS and rulesets generated from the manifests changed. Review them like any change to CI: this pull request is the only way they reach the branch. The rulesets are applied once it is merged.",
        })),
        StatusCode::CREATED,
        "opening the pull request",
    )
    .await?;
    Ok((
        PullRequestOutcome::Opened(created["number"].as_u64().unwrap_or_default()),
        conflicts,
    ))
}

/// Whether GitHub's `actual` holds every field of `wanted` with the same value (GitHub adds
/// fields of its own: ids, links, defaults of newer parameters).
fn holds(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (Value::Object(a), Value::Object(w)) => {
            w.iter().all(|(k, v)| a.get(k).is_some_and(|x| holds(x, v)))
        }
        (Value::Array(a), Value::Array(w)) => {
            a.len() == w.len() && a.iter().zip(w).all(|(x, v)| holds(x, v))
        }
        _ => actual == wanted,
    }
}

/// Creates, updates or deletes the repository's managed rulesets to match `wanted`.
async fn rulesets(
    api: &GithubApi,
    repo: &str,
    wanted: &[Value],
) -> Result<Vec<(String, RulesetOutcome)>, SourceError> {
    let list = expect(
        api,
        Method::GET,
        &format!("{repo}/rulesets?includes_parents=false&per_page=100"),
        None,
        StatusCode::OK,
        "the rulesets",
    )
    .await?;
    let existing: BTreeMap<String, u64> = list
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|r| Some((r["name"].as_str()?.to_string(), r["id"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for ruleset in wanted {
        let name = ruleset["name"].as_str().unwrap_or_default().to_string();
        let outcome = match existing.get(&name) {
            Some(id) => {
                let path = format!("{repo}/rulesets/{id}");
                let actual =
                    expect(api, Method::GET, &path, None, StatusCode::OK, "the ruleset").await?;
                if holds(&actual, ruleset) {
                    RulesetOutcome::Unchanged
                } else {
                    expect(
                        api,
                        Method::PUT,
                        &path,
                        Some(ruleset),
                        StatusCode::OK,
                        "updating the ruleset",
                    )
                    .await?;
                    RulesetOutcome::Updated
                }
            }
            None => {
                expect(
                    api,
                    Method::POST,
                    &format!("{repo}/rulesets"),
                    Some(ruleset),
                    StatusCode::CREATED,
                    "creating the ruleset",
                )
                .await?;
                RulesetOutcome::Created
            }
        };
        out.push((name, outcome));
    }
    for (name, id) in &existing {
        let ours = name.starts_with(RULESET_PREFIX);
        let wanted = wanted.iter().any(|r| r["name"] == name.as_str());
        if ours && !wanted {
            let (status, body) = api
                .call(Method::DELETE, &format!("{repo}/rulesets/{id}"), None)
                .await?;
            if status != StatusCode::NO_CONTENT && status != StatusCode::NOT_FOUND {
                return Err(error_of(status, &body, "deleting the ruleset"));
            }
            out.push((name.clone(), RulesetOutcome::Deleted));
        }
    }
    Ok(out)
}

/// Brings one repository to `repository`: the pull request first; the rulesets once the
/// target branch holds the files (they require the check its workflows provide: applied
/// earlier, they would block every other pull request until this one merged).
///
/// # Errors
/// [`SourceError`] from GitHub; nothing already done is undone (a rerun converges).
pub async fn publish(
    api: &GithubApi,
    repository: &RepositoryFiles,
) -> Result<Published, SourceError> {
    let repo = repo_path(&repository.owner, &repository.name)?;
    let (pull_request, conflicts) = pull_request(api, &repo, repository).await?;
    let merged = matches!(
        pull_request,
        PullRequestOutcome::UpToDate | PullRequestOutcome::Closed(_)
    );
    let rulesets = if merged {
        Some(rulesets(api, &repo, &repository.rulesets).await?)
    } else {
        None
    };
    Ok(Published {
        pull_request,
        conflicts,
        rulesets,
    })
}

/// The latest release of `action` (`owner/repo`): its tag and the commit the tag names.
///
/// # Errors
/// [`SourceError::NotFound`] when the repository has no release; others from GitHub.
pub async fn latest_release(
    api: &GithubApi,
    action: &str,
) -> Result<(String, String), SourceError> {
    let repo = repo_path("", action)?;
    let (status, body) = api
        .call(Method::GET, &format!("{repo}/releases/latest"), None)
        .await?;
    if status == StatusCode::NOT_FOUND {
        return Err(SourceError::NotFound(format!("{action} has no release")));
    }
    if status != StatusCode::OK {
        return Err(error_of(
            status,
            &body,
            &format!("the latest release of {action}"),
        ));
    }
    let tag = body["tag_name"]
        .as_str()
        .ok_or_else(|| unavailable("no tag_name in GitHub's release"))?
        .to_string();
    let commit = commit_of_tag(api, &repo, action, &tag).await?;
    Ok((tag, commit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holding_ignores_what_github_adds() {
        let actual = json!({"id": 1, "name": "x", "rules": [{"type": "deletion"}, {"type": "pull_request", "parameters": {"a": 1, "extra": true}}]});
        assert!(holds(
            &actual,
            &json!({"name": "x", "rules": [{"type": "deletion"}, {"type": "pull_request", "parameters": {"a": 1}}]})
        ));
        assert!(!holds(&actual, &json!({"rules": [{"type": "deletion"}]})));
        assert!(!holds(&actual, &json!({"name": "y"})));
    }
}
