//! The CI tools are also `infrastream` subcommands (their behaviour is tested on the
//! `infrastream-ci` binary, in its own crate).

use crate::{infrastream, stderr, stdout};

#[test]
fn compute_version_commits_lint_and_changelog_are_subcommands() {
    let out = infrastream(&[
        "compute-version",
        "--labels",
        "release/minor",
        "--merged-tag",
        "v1.2.3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("target_version=v1.3.0\n"),
        "{}",
        stdout(&out)
    );

    let out = infrastream(&["commits", "lint", "--pr-title", "feat(api): add retries"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = infrastream(&["commits", "lint", "--pr-title", "added retries"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    let out = infrastream(&["changelog", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("--from"), "{}", stdout(&out));
}
