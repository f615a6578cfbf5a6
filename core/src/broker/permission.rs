//! GitHub App permissions a repository-scoped installation token may carry, and their levels.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// A permission's level; each includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `read`.
    Read,
    /// `write`.
    Write,
    /// `admin`.
    Admin,
}

impl Level {
    /// `read`, `write` or `admin`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "read" => Some(Level::Read),
            "write" => Some(Level::Write),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }

    /// As GitHub spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Admin => "admin",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Permissions by name (GitHub's spelling, e.g. `pull_requests`).
pub type Permissions = BTreeMap<String, Level>;

const RW: &[Level] = &[Level::Read, Level::Write];

/// The repository permissions of GitHub's "Create an installation access token" API (REST
/// 2022-11-28) and the levels each takes. Organization permissions are not here: a token the
/// broker issues is scoped to repositories.
pub const PERMISSIONS: &[(&str, &[Level])] = &[
    ("actions", RW),
    ("administration", RW),
    ("attestations", RW),
    ("checks", RW),
    ("codespaces", RW),
    ("contents", RW),
    ("dependabot_secrets", RW),
    ("deployments", RW),
    ("environments", RW),
    ("issues", RW),
    ("merge_queues", RW),
    ("metadata", RW),
    ("packages", RW),
    ("pages", RW),
    ("pull_requests", RW),
    ("repository_custom_properties", RW),
    ("repository_hooks", RW),
    (
        "repository_projects",
        &[Level::Read, Level::Write, Level::Admin],
    ),
    ("secret_scanning_alerts", RW),
    ("secrets", RW),
    ("security_events", RW),
    ("single_file", RW),
    ("statuses", RW),
    ("vulnerability_alerts", RW),
    ("workflows", &[Level::Write]),
];

/// `name: level` checked against [`PERMISSIONS`]: the level, or why not.
///
/// # Errors
/// A sentence naming the unknown permission or the levels it takes.
pub fn check_permission(name: &str, level: &str) -> Result<Level, String> {
    let Some((_, levels)) = PERMISSIONS.iter().find(|(n, _)| *n == name) else {
        return Err(format!(
            "'{name}' is not a repository permission GitHub grants to an installation token"
        ));
    };
    match Level::parse(level) {
        Some(l) if levels.contains(&l) => Ok(l),
        _ => {
            let known: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
            Err(format!(
                "'{level}' is not a level of '{name}' (one of: {})",
                known.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_checked_per_permission() {
        assert!(Level::Read < Level::Write && Level::Write < Level::Admin);
        assert_eq!(check_permission("contents", "read"), Ok(Level::Read));
        assert_eq!(
            check_permission("repository_projects", "admin"),
            Ok(Level::Admin)
        );
        assert!(check_permission("contents", "admin").is_err());
        assert!(check_permission("workflows", "read").is_err());
        assert!(check_permission("members", "read").is_err());
        assert!(check_permission("contents", "READ").is_err());
        let names: Vec<&str> = PERMISSIONS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "kept sorted, so a duplicate shows");
    }
}
