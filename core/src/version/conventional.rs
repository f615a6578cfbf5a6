//! Conventional commits: headers, breaking-change footers, PR-title rules and the labels a PR
//! should carry.

use serde::Serialize;

use super::compute::Bump;

/// The commit types a header may use.
pub const ALLOWED_TYPES: [&str; 11] = [
    "feat", "fix", "docs", "test", "ci", "build", "style", "refactor", "perf", "chore", "revert",
];

/// A parsed conventional commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConventionalCommit {
    /// `feat`, `fix`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The scope in parentheses, if any.
    pub scope: Option<String>,
    /// `!` before the colon, or a `BREAKING CHANGE:` footer.
    pub breaking: bool,
    /// The text after `: `.
    pub description: String,
}

/// Why a header is not a conventional commit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// There is no header at all.
    #[error("empty commit message")]
    Empty,
    /// The header does not have the `type(scope)!: description` shape.
    #[error("'{header}' is not a conventional commit header: {reason}")]
    Malformed {
        /// The offending header.
        header: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The type holds something other than lower-case letters.
    #[error("the type '{kind}' holds {fault}: a type is lower-case letters only, one of {}", ALLOWED_TYPES.join(", "))]
    BadType {
        /// The type written.
        kind: String,
        /// What it holds that it may not.
        fault: String,
    },
    /// The type is not one of [`ALLOWED_TYPES`].
    #[error("'{kind}' is not an allowed type (allowed: {})", ALLOWED_TYPES.join(", "))]
    UnknownType {
        /// The type written.
        kind: String,
    },
}

/// Parses a header line `type(scope)!: description`.
///
/// # Errors
/// [`CommitError`] saying what is wrong with the header.
pub fn parse_header(header: &str) -> Result<ConventionalCommit, CommitError> {
    let header = header.trim_end_matches(['\r', '\n']);
    if header.trim().is_empty() {
        return Err(CommitError::Empty);
    }
    let malformed = |reason| CommitError::Malformed {
        header: header.to_string(),
        reason,
    };
    // The type is everything up to the scope, the `!` or the colon; what it may hold is
    // checked apart, so the message names the fault (`fix-up`, `v2`, `Fix`).
    let Some(type_end) = header.find(['(', '!', ':']) else {
        return Err(malformed("expected 'type: description' (no ':' in it)"));
    };
    let (kind, mut rest) = header.split_at(type_end);
    if kind.is_empty() {
        return Err(malformed("there is no type before the ':'"));
    }
    if let Some(bad) = kind.chars().find(|c| !c.is_ascii_lowercase()) {
        let fault = match bad {
            ' ' | '\t' => "a space".to_string(),
            '-' => "a '-'".to_string(),
            c if c.is_ascii_digit() => format!("a digit ('{c}')"),
            c if c.is_ascii_uppercase() => format!("an upper-case letter ('{c}')"),
            c => format!("'{c}'"),
        };
        return Err(CommitError::BadType {
            kind: kind.to_string(),
            fault,
        });
    }
    let mut scope = None;
    if let Some(after) = rest.strip_prefix('(') {
        let close = after.find(')').ok_or(malformed("unclosed scope"))?;
        let s = after.get(..close).unwrap_or_default();
        if s.trim().is_empty() {
            return Err(malformed("empty scope"));
        }
        scope = Some(s.to_string());
        rest = after.get(close + 1..).unwrap_or_default();
    }
    let breaking = rest.starts_with('!');
    if breaking {
        rest = rest.get(1..).unwrap_or_default();
    }
    let description = rest
        .strip_prefix(": ")
        .ok_or(malformed("expected ': ' after the type and scope"))?;
    if description.trim().is_empty() {
        return Err(malformed("empty description"));
    }
    if !ALLOWED_TYPES.contains(&kind) {
        return Err(CommitError::UnknownType {
            kind: kind.to_string(),
        });
    }
    Ok(ConventionalCommit {
        kind: kind.to_string(),
        scope,
        breaking,
        description: description.to_string(),
    })
}

/// Parses a whole commit message: the header, plus a `BREAKING CHANGE:` (or `BREAKING-CHANGE:`)
/// footer in the body, which also makes it breaking.
///
/// # Errors
/// [`CommitError`] for the header.
pub fn parse_message(message: &str) -> Result<ConventionalCommit, CommitError> {
    let mut lines = message.lines();
    let mut commit = parse_header(lines.next().unwrap_or_default())?;
    if lines.any(|l| l.starts_with("BREAKING CHANGE:") || l.starts_with("BREAKING-CHANGE:")) {
        commit.breaking = true;
    }
    Ok(commit)
}

impl ConventionalCommit {
    /// The version bump this commit asks for: breaking -> major, `feat` -> minor, else patch.
    #[must_use]
    pub fn bump(&self) -> Bump {
        if self.breaking {
            Bump::Major
        } else if self.kind == "feat" {
            Bump::Minor
        } else {
            Bump::Patch
        }
    }

    /// The labels a PR with this title should carry.
    #[must_use]
    pub fn labels(&self) -> PrLabels {
        PrLabels {
            release: match self.bump() {
                Bump::Major => Some("release/major"),
                Bump::Minor => Some("release/minor"),
                Bump::Patch => None,
            },
            // GitHub splits label lists on commas, so `feat(api,core)` gets `scope/api-core`.
            scope: self
                .scope
                .as_ref()
                .map(|s| format!("scope/{}", s.replace(',', "-"))),
        }
    }
}

/// Labels a PR should carry, derived from its title.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PrLabels {
    /// `release/major` or `release/minor`; none for a patch.
    pub release: Option<&'static str>,
    /// `scope/<scope>`.
    pub scope: Option<String>,
}

/// The release labels managed by CI: a PR carries at most the one its title implies.
pub const RELEASE_LABELS: [&str; 3] = ["release/major", "release/minor", "release/patch"];

/// The verdict on a PR title.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum TitleVerdict {
    /// A conventional title.
    Conventional(ConventionalCommit),
    /// GitHub's revert title, `Revert "<original>"`: accepted, no labels.
    Revert,
    /// A dependabot PR with its own title style: accepted with a warning, no labels.
    Dependabot,
}

/// The author whose non-conventional titles are accepted.
pub const DEPENDABOT: &str = "dependabot[bot]";

/// Checks a PR title as the merge gate does.
///
/// # Errors
/// [`CommitError`] when the title is not conventional and no exception applies.
pub fn check_pr_title(title: &str, author: Option<&str>) -> Result<TitleVerdict, CommitError> {
    match parse_header(title) {
        Ok(commit) => Ok(TitleVerdict::Conventional(commit)),
        Err(err) => {
            let is_revert = title
                .strip_prefix("Revert \"")
                .and_then(|r| r.strip_suffix('"'))
                .is_some_and(|inner| !inner.is_empty());
            if is_revert {
                Ok(TitleVerdict::Revert)
            } else if author == Some(DEPENDABOT) {
                Ok(TitleVerdict::Dependabot)
            } else {
                Err(err)
            }
        }
    }
}
