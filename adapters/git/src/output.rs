//! What git prints that this adapter reads: NUL-separated path lists, the promotion search's
//! log listing, `rev-list --parents`, and the error messages that tell an unreachable remote
//! from a refused command. Pure functions over text, so the fuzz target `git_output` runs
//! exactly what the adapter runs.

use cd_core::pipeline::Promotion;
use cd_ports::RepoError;

/// The paths of a `-z` listing (`ls-files -z`, `diff -z --name-only`, `show -z --name-only`):
/// NUL-separated, as they are (never quoted), empty entries dropped.
#[must_use]
pub fn nul_paths(listing: &str) -> Vec<String> {
    listing
        .split('\0')
        .map(|l| l.trim_start_matches('\n'))
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `rev-list --parents -n 1 C` printed a parent after the commit itself.
#[must_use]
pub fn has_parent(rev_list: &str) -> bool {
    rev_list.split_whitespace().count() > 1
}

/// Every commit of a `log --format=%H%x1f%B%x1e` listing that is a promotion, with the
/// promotion, in the listing's order.
pub fn promotions(listing: &str) -> impl Iterator<Item = (Promotion, String)> + '_ {
    listing.split('\x1e').filter_map(|entry| {
        let (commit, message) = entry.trim_start().split_once('\x1f')?;
        Some((Promotion::parse(message)?, commit.to_string()))
    })
}

/// What a failed git command means, from its standard error: the remote could not be reached
/// (`Unavailable`, worth retrying) or the command was refused (`Invalid`).
#[must_use]
pub fn failure(what: &str, stderr: &str) -> RepoError {
    let stderr = stderr.trim();
    let unreachable = [
        "Could not read from remote",
        "unable to access",
        "Connection refused",
        "Could not resolve host",
        "timed out",
        "does not appear to be a git repository",
    ];
    if unreachable.iter().any(|m| stderr.contains(m)) {
        RepoError::Unavailable(format!("{what}: {stderr}"))
    } else {
        RepoError::Invalid(format!("{what}: {stderr}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listings() {
        assert_eq!(
            nul_paths("a.yaml\0\ndir/b c.yaml\0\0"),
            ["a.yaml", "dir/b c.yaml"]
        );
        assert!(has_parent("c1 p1\n"));
        assert!(!has_parent("c1\n"));
        let p = Promotion {
            deployment: cd_core::pipeline::DeploymentId("d-1".into()),
            stage: 1,
        };
        let listing = format!(
            "c10\x1fmsg\n\n{}\x1e\nc1\x1fmsg\n\n{}\x1e",
            Promotion {
                stage: 10,
                ..p.clone()
            }
            .trailer_lines()
            .join("\n"),
            p.trailer_lines().join("\n")
        );
        // Near misses (stage 10 for stage 1) are their own promotions.
        let found: Vec<(Promotion, String)> = promotions(&listing).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(found[1], (p.clone(), "c1".to_string()));
        assert_eq!(found[0].0.stage, 10);
        assert!(matches!(
            failure("git push", "fatal: unable to access 'x'"),
            RepoError::Unavailable(_)
        ));
        assert!(matches!(
            failure("git push", "! [rejected]"),
            RepoError::Invalid(_)
        ));
    }
}
