//! `tag` and `release`: the git tag of the computed version, created through the API with the
//! job's own token (no checkout holds a credential), and the GitHub release with its
//! changelog.

use cd_core::version::ReleaseType;

use crate::builders::common::INITIALIZE;
use crate::context::{Ctx, Findings};
use crate::model::{Job, Level, Permissions, Scope, Step};
use crate::steps::{self, CI_TOOLS, Depth};

/// Runs only when `initialize` computed a version to release.
pub const NOT_SKIPPED: &str = "needs.initialize.outputs.skip != 'true'";

const TAG_SCRIPT: &str = "\
if existing=$(gh api \"repos/$GITHUB_REPOSITORY/git/ref/tags/$VERSION\" --jq .object.sha 2>/dev/null); then
  if [ \"$existing\" != \"$GITHUB_SHA\" ]; then
    echo \"::error::tag $VERSION already names $existing, not $GITHUB_SHA: tags never move\"
    exit 1
  fi
  echo \"tag $VERSION already names this commit\"
else
  gh api --method POST \"repos/$GITHUB_REPOSITORY/git/refs\" \\
    -f \"ref=refs/tags/$VERSION\" -f \"sha=$GITHUB_SHA\" >/dev/null
  echo \"tagged $GITHUB_SHA as $VERSION\"
fi
";

/// The `tag` job: after every stage and image job passed.
#[must_use]
pub fn tag(ctx: &Ctx<'_>, needs: Vec<String>) -> (String, Job) {
    let mut job = Job::new("Tag the release", ctx.runner(), 10);
    job.needs = with_initialize(needs);
    job.condition = Some(NOT_SKIPPED.into());
    job.permissions =
        Permissions::none().with(Scope::Contents, Level::Write, "create the release tag");
    job.steps = vec![
        Step::run("Create the tag (idempotent; never moved)", TAG_SCRIPT)
            .env("GH_TOKEN", "${{ github.token }}")
            .env("VERSION", "${{ needs.initialize.outputs.target_version }}"),
    ];
    ("tag".into(), job)
}

/// The `release` job: the GitHub release of the tag, with the changelog since the base.
pub fn release(ctx: &Ctx<'_>, findings: &mut Findings, needs: Vec<String>) -> (String, Job) {
    let mut job = Job::new("GitHub release", ctx.runner(), 10);
    job.needs = with_initialize(needs);
    job.condition = Some(NOT_SKIPPED.into());
    job.permissions = Permissions::none().with(
        Scope::Contents,
        Level::Write,
        "create the GitHub release (and read history for its notes)",
    );
    let prerelease = ctx.config.release_type != ReleaseType::Latest;
    let script = format!(
        "\
if gh release view \"$VERSION\" --repo \"$GITHUB_REPOSITORY\" >/dev/null 2>&1; then
  echo \"release $VERSION exists\"
  exit 0
fi
\"{CI_TOOLS}\" changelog --from \"$CURRENT\" --to \"$GITHUB_SHA\" > \"$RUNNER_TEMP/notes.md\"
flags=(--verify-tag --title \"$VERSION\" --notes-file \"$RUNNER_TEMP/notes.md\")
if [ \"$PRERELEASE\" = true ]; then flags+=(--prerelease); fi
gh release create \"$VERSION\" --repo \"$GITHUB_REPOSITORY\" \"${{flags[@]}}\"
"
    );
    job.steps = [
        steps::checkout(ctx, findings, Depth::Full),
        steps::install_ci_tools(ctx, findings),
        Some(
            Step::run("Create the release with its changelog", script)
                .env("GH_TOKEN", "${{ github.token }}")
                .env("VERSION", "${{ needs.initialize.outputs.target_version }}")
                .env("CURRENT", "${{ needs.initialize.outputs.current_version }}")
                .env("PRERELEASE", prerelease.to_string()),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    ("release".into(), job)
}

/// `needs` with `initialize` first, once.
#[must_use]
pub fn with_initialize(needs: Vec<String>) -> Vec<String> {
    let mut all = vec![INITIALIZE.to_string()];
    for n in needs {
        if !all.contains(&n) {
            all.push(n);
        }
    }
    all
}
