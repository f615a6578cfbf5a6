//! The GithubRepositoryComputer: a repository's `strategy` -> its branch configurations, and
//! the one rule that maps a branch to the release type `compute-version` applies.
//!
//! The table follows the platform's documented strategies; where it is silent (TRUNK_BASED merge
//! methods, hotfix sources, release branches under GITHUB_FLOW) the choices are ours and
//! docs/WORKFLOWS.md lists them.

use cd_core::manifest::BranchStrategy;
use cd_core::version::ReleaseType;
use serde::Serialize;

use crate::glob;

/// The name of the job every generated workflow ends with, and the status check the rulesets
/// require: it passes only when every other job passed or was skipped.
pub const MERGE_AUTHORIZED: &str = "Merge Authorized";

/// How a pull request may be merged into a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    /// A merge commit.
    Merge,
    /// One squashed commit whose subject is the pull request's title.
    Squash,
    /// The pull request's commits, rebased.
    Rebase,
}

impl MergeMethod {
    /// GitHub's spelling (rulesets' `allowed_merge_methods`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        }
    }
}

/// Branch-name prefixes of conventional work: `feat/...`, `fix/...`, and dependabot's own.
pub const CONVENTIONAL_PREFIXES: [&str; 14] = [
    "feat",
    "feature",
    "fix",
    "bugfix",
    "docs",
    "test",
    "ci",
    "build",
    "style",
    "refactor",
    "perf",
    "chore",
    "revert",
    "dependabot",
];

/// Which head branches a pull request into a branch may come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum HeadRule {
    /// Any branch.
    Any,
    /// Branches named `<prefix>/...` for one of `prefixes`, and, when `github_reverts`, the
    /// `revert-<number>-...` branches GitHub's Revert button creates.
    Only {
        /// Allowed first path segments.
        prefixes: Vec<&'static str>,
        /// Whether `revert-<number>-...` is allowed.
        github_reverts: bool,
    },
}

impl HeadRule {
    fn conventional() -> HeadRule {
        HeadRule::Only {
            prefixes: CONVENTIONAL_PREFIXES.to_vec(),
            github_reverts: true,
        }
    }

    fn fixes() -> HeadRule {
        HeadRule::Only {
            prefixes: vec!["fix", "bugfix"],
            github_reverts: true,
        }
    }

    /// Whether a pull request from `head` is allowed.
    #[must_use]
    pub fn allows(&self, head: &str) -> bool {
        match self {
            HeadRule::Any => true,
            HeadRule::Only {
                prefixes,
                github_reverts,
            } => {
                let prefixed = head
                    .split_once('/')
                    .is_some_and(|(first, _)| prefixes.contains(&first));
                prefixed || (*github_reverts && is_github_revert(head))
            }
        }
    }
}

/// `revert-<digits>-...`: the branch GitHub's Revert button names.
fn is_github_revert(head: &str) -> bool {
    head.strip_prefix("revert-").is_some_and(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest.as_bytes().get(digits) == Some(&b'-')
    })
}

/// One entry of a repository's branch configuration: the branches it covers and the rules of
/// building, versioning and merging into them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BranchConfig {
    /// A short id, unique within the strategy: `primary`, `develop`, `release`, `hotfix`,
    /// `feature`. Workflow file names carry it.
    pub id: &'static str,
    /// What people call these branches, e.g. `release branches`.
    pub title: &'static str,
    /// Target branch patterns ([`glob`]'s `*` and `**`).
    pub patterns: Vec<String>,
    /// The release type `compute-version` applies to builds of these branches.
    pub release_type: ReleaseType,
    /// Merge methods allowed into these branches.
    pub merge_methods: Vec<MergeMethod>,
    /// Approving reviews a pull request needs.
    pub required_reviewers: u32,
    /// Status checks a pull request needs.
    pub required_checks: Vec<&'static str>,
    /// Which head branches a pull request may come from.
    pub heads: HeadRule,
}

impl BranchConfig {
    /// Whether `branch` is one of these branches.
    #[must_use]
    pub fn covers(&self, branch: &str) -> bool {
        self.patterns.iter().any(|p| glob::matches(p, branch))
    }

    /// Whether merging into these branches is protected (reviews or checks required).
    #[must_use]
    pub fn is_protected(&self) -> bool {
        self.required_reviewers > 0 || !self.required_checks.is_empty()
    }
}

const ALL_METHODS: [MergeMethod; 3] =
    [MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase];

fn protected(
    id: &'static str,
    title: &'static str,
    patterns: &[&'static str],
    release_type: ReleaseType,
    merge_methods: &[MergeMethod],
    heads: HeadRule,
) -> BranchConfig {
    BranchConfig {
        id,
        title,
        patterns: patterns.iter().map(|p| (*p).to_string()).collect(),
        release_type,
        merge_methods: merge_methods.to_vec(),
        required_reviewers: 1,
        required_checks: vec![MERGE_AUTHORIZED],
        heads,
    }
}

/// The release branches the Releaser cuts for every bundle, `release/<appSet>/<bundle>`: a
/// build there is a hotfix of the released bundle.
fn release_branches() -> BranchConfig {
    protected(
        "release",
        "release branches",
        &["release/*/*"],
        ReleaseType::Hotfix,
        &[MergeMethod::Squash],
        HeadRule::fixes(),
    )
}

/// The branch configurations of `strategy`, in the order their workflows are listed.
#[must_use]
pub fn branch_configs(strategy: BranchStrategy) -> Vec<BranchConfig> {
    match strategy {
        BranchStrategy::GithubFlow => vec![
            protected(
                "primary",
                "primary branch",
                &["main"],
                ReleaseType::Latest,
                &[MergeMethod::Squash],
                HeadRule::conventional(),
            ),
            release_branches(),
            BranchConfig {
                id: "feature",
                title: "feature branches",
                // Every branch under a conventional prefix, however deep.
                patterns: CONVENTIONAL_PREFIXES
                    .iter()
                    .map(|p| format!("{p}/**"))
                    .collect(),
                release_type: ReleaseType::None,
                merge_methods: ALL_METHODS.to_vec(),
                required_reviewers: 0,
                required_checks: Vec::new(),
                heads: HeadRule::Any,
            },
        ],
        BranchStrategy::GitFlow => vec![
            protected(
                "primary",
                "primary branch",
                &["main"],
                ReleaseType::Latest,
                &[MergeMethod::Merge],
                HeadRule::Only {
                    prefixes: vec!["release", "hotfix"],
                    github_reverts: false,
                },
            ),
            protected(
                "develop",
                "development branch",
                &["develop"],
                ReleaseType::Alpha,
                &[MergeMethod::Squash],
                HeadRule::conventional(),
            ),
            protected(
                "release",
                "release branches",
                &["release/*/*"],
                ReleaseType::Beta,
                &[MergeMethod::Merge, MergeMethod::Squash],
                HeadRule::fixes(),
            ),
            protected(
                "hotfix",
                "hotfix branches",
                &["hotfix/*"],
                ReleaseType::Hotfix,
                &ALL_METHODS,
                HeadRule::fixes(),
            ),
        ],
        BranchStrategy::TrunkBased => vec![
            protected(
                "primary",
                "primary branch",
                &["main"],
                ReleaseType::Latest,
                &[MergeMethod::Squash],
                HeadRule::conventional(),
            ),
            release_branches(),
        ],
    }
}

/// The branch configuration of `strategy` that covers `branch`, if any.
#[must_use]
pub fn config_of(strategy: BranchStrategy, branch: &str) -> Option<BranchConfig> {
    branch_configs(strategy)
        .into_iter()
        .find(|c| c.covers(branch))
}

/// The release type of a build of `branch` under `strategy`: that of the configuration
/// covering it, NONE for any other branch.
#[must_use]
pub fn release_type_of(strategy: BranchStrategy, branch: &str) -> ReleaseType {
    config_of(strategy, branch).map_or(ReleaseType::None, |c| c.release_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_rows() {
        use BranchStrategy::*;
        use ReleaseType::*;
        assert_eq!(release_type_of(GithubFlow, "main"), Latest);
        assert_eq!(release_type_of(GithubFlow, "feat/cart"), None);
        assert_eq!(release_type_of(GithubFlow, "release/shop/2026.11"), Hotfix);
        assert_eq!(release_type_of(GitFlow, "develop"), Alpha);
        assert_eq!(release_type_of(GitFlow, "release/shop/2026.11"), Beta);
        assert_eq!(release_type_of(GitFlow, "hotfix/login"), Hotfix);
        assert_eq!(release_type_of(TrunkBased, "release/shop/2026.11"), Hotfix);
        assert_eq!(release_type_of(TrunkBased, "develop"), None);
        let main = config_of(GithubFlow, "main").unwrap();
        assert_eq!(main.merge_methods, vec![MergeMethod::Squash]);
        assert_eq!(main.required_reviewers, 1);
        assert_eq!(main.required_checks, vec![MERGE_AUTHORIZED]);
        let git_main = config_of(GitFlow, "main").unwrap();
        assert!(git_main.heads.allows("release/shop/2026.11") && git_main.heads.allows("hotfix/x"));
        assert!(!git_main.heads.allows("feat/x"));
    }

    #[test]
    fn head_rules_follow_the_reference_patterns() {
        let trunk = config_of(BranchStrategy::TrunkBased, "main").unwrap();
        for ok in [
            "feat/a",
            "dependabot/npm/x",
            "revert-12-feat/a",
            "chore/x/y",
        ] {
            assert!(trunk.heads.allows(ok), "{ok}");
        }
        for bad in [
            "feat",
            "feature-x",
            "revert-x-1",
            "revert--a",
            "main",
            "Feat/a",
        ] {
            assert!(!trunk.heads.allows(bad), "{bad}");
        }
        let release = config_of(BranchStrategy::TrunkBased, "release/a/b").unwrap();
        assert!(release.heads.allows("fix/a") && release.heads.allows("bugfix/a"));
        assert!(!release.heads.allows("feat/a"));
    }
}
