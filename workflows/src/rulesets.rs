//! Branch and tag protection as GitHub repository rulesets, in the request shape of
//! `POST /repos/{owner}/{repo}/rulesets`.

use serde::Serialize;

use crate::branching::{BranchConfig, MergeMethod};

/// The GitHub Actions app: required checks must come from it, so no other app (or a commit
/// status anyone with write access can post) can satisfy them.
pub const GITHUB_ACTIONS_APP_ID: u64 = 15368;

/// Prefix of every ruleset name this engine manages.
pub const NAME_PREFIX: &str = "infrastream: ";

/// A ruleset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ruleset {
    /// Unique per repository; `publish` finds its own by it.
    pub name: String,
    /// `branch` or `tag`.
    pub target: &'static str,
    /// Always `active`.
    pub enforcement: &'static str,
    /// Nobody bypasses.
    pub bypass_actors: Vec<serde_json::Value>,
    /// Which refs.
    pub conditions: Conditions,
    /// What is enforced.
    pub rules: Vec<Rule>,
}

/// `conditions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conditions {
    /// `ref_name`.
    pub ref_name: RefName,
}

/// `conditions.ref_name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefName {
    /// Full ref patterns.
    pub include: Vec<String>,
    /// None.
    pub exclude: Vec<String>,
}

/// A rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Rule {
    /// The refs cannot be deleted.
    Deletion,
    /// The refs cannot be force-pushed.
    NonFastForward,
    /// The refs cannot move once created (tags).
    Update,
    /// No merge commits.
    RequiredLinearHistory,
    /// Changes arrive through reviewed pull requests.
    PullRequest {
        /// The review rules.
        parameters: PullRequestParameters,
    },
    /// Checks that must pass.
    RequiredStatusChecks {
        /// The checks.
        parameters: StatusCheckParameters,
    },
}

/// `pull_request.parameters`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PullRequestParameters {
    /// Merge methods allowed.
    pub allowed_merge_methods: Vec<MergeMethod>,
    /// A new push dismisses earlier approvals.
    pub dismiss_stale_reviews_on_push: bool,
    /// Code owners must approve changes to their paths.
    pub require_code_owner_review: bool,
    /// Someone other than the last pusher approves.
    pub require_last_push_approval: bool,
    /// Approvals needed.
    pub required_approving_review_count: u32,
    /// Every conversation resolved.
    pub required_review_thread_resolution: bool,
}

/// `required_status_checks.parameters`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusCheckParameters {
    /// The checks.
    pub required_status_checks: Vec<StatusCheck>,
    /// Whether the branch must be up to date first.
    pub strict_required_status_checks_policy: bool,
}

/// One required check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusCheck {
    /// The check's name (the job's name).
    pub context: String,
    /// The app that must report it.
    pub integration_id: u64,
}

/// The ruleset of a protected branch configuration; `None` for unprotected ones.
#[must_use]
pub fn for_branches(config: &BranchConfig, code_owners: bool) -> Option<Ruleset> {
    if !config.is_protected() {
        return None;
    }
    let mut rules = vec![Rule::Deletion, Rule::NonFastForward];
    if !config.merge_methods.contains(&MergeMethod::Merge) {
        rules.push(Rule::RequiredLinearHistory);
    }
    rules.push(Rule::PullRequest {
        parameters: PullRequestParameters {
            allowed_merge_methods: config.merge_methods.clone(),
            dismiss_stale_reviews_on_push: true,
            require_code_owner_review: code_owners,
            require_last_push_approval: config.required_reviewers > 0,
            required_approving_review_count: config.required_reviewers,
            required_review_thread_resolution: true,
        },
    });
    if !config.required_checks.is_empty() {
        rules.push(Rule::RequiredStatusChecks {
            parameters: StatusCheckParameters {
                required_status_checks: config
                    .required_checks
                    .iter()
                    .map(|c| StatusCheck {
                        context: (*c).to_string(),
                        integration_id: GITHUB_ACTIONS_APP_ID,
                    })
                    .collect(),
                strict_required_status_checks_policy: false,
            },
        });
    }
    Some(Ruleset {
        name: format!("{NAME_PREFIX}{}", config.title),
        target: "branch",
        enforcement: "active",
        bypass_actors: Vec::new(),
        conditions: Conditions {
            ref_name: RefName {
                include: config
                    .patterns
                    .iter()
                    .map(|p| format!("refs/heads/{p}"))
                    .collect(),
                exclude: Vec::new(),
            },
        },
        rules,
    })
}

/// Release tags never move and are never deleted.
#[must_use]
pub fn for_tags() -> Ruleset {
    Ruleset {
        name: format!("{NAME_PREFIX}release tags"),
        target: "tag",
        enforcement: "active",
        bypass_actors: Vec::new(),
        conditions: Conditions {
            ref_name: RefName {
                include: vec!["refs/tags/v*".into()],
                exclude: Vec::new(),
            },
        },
        rules: vec![Rule::Deletion, Rule::Update],
    }
}

/// A ruleset as the JSON file `generate` writes (and `publish` sends).
#[must_use]
pub fn to_json(ruleset: &Ruleset) -> String {
    let mut text = serde_json::to_string_pretty(ruleset).unwrap_or_default();
    text.push('\n');
    text
}
