//! `initialize`: branch verification (pull requests), checkout with history and tags,
//! conventional commits, and the version this build gets.

use cd_core::version::ReleaseType;

use crate::branching::HeadRule;
use crate::builders::common::INITIALIZE;
use crate::context::{Ctx, Event, Findings};
use crate::model::{Job, Level, Permissions, Scope, Step};
use crate::steps::{self, CI_TOOLS, Depth};

/// The bash test that a pull request's head branch (`$HEAD_REF`) is allowed, or `None` when
/// any branch is.
#[must_use]
pub fn head_check(rule: &HeadRule, title: &str) -> Option<String> {
    let HeadRule::Only {
        prefixes,
        github_reverts,
    } = rule
    else {
        return None;
    };
    let mut tests = vec![format!("[[ \"$HEAD_REF\" =~ ^({})/ ]]", prefixes.join("|"))];
    let mut allowed: Vec<String> = prefixes.iter().map(|p| format!("{p}/")).collect();
    if *github_reverts {
        tests.push("[[ \"$HEAD_REF\" =~ ^revert-[0-9]+- ]]".to_string());
        allowed.push("revert-N- (GitHub reverts)".into());
    }
    Some(format!(
        "\
if {tests}; then
  echo \"head branch $HEAD_REF may merge into the {title}\"
  exit 0
fi
echo \"::error::pull requests into the {title} come from {allowed}; this one comes from $HEAD_REF\"
exit 1
",
        tests = tests.join(" || "),
        allowed = allowed.join(", "),
    ))
}

/// The `initialize` job of a workflow.
pub fn initialize(ctx: &Ctx<'_>, findings: &mut Findings) -> (String, Job) {
    let mut job = Job::new("Initialize", ctx.runner(), 10);
    let release_type = ctx.config.release_type;
    let mut permissions =
        Permissions::none().with(Scope::Contents, Level::Read, "read the commits and tags");
    let mut steps: Vec<Option<Step>> = Vec::new();
    let compute = match ctx.event {
        Event::PullRequest => {
            if let Some(script) = head_check(&ctx.config.heads, ctx.config.title) {
                steps.push(Some(
                    Step::run("Check the head branch", script)
                        .env("HEAD_REF", "${{ github.head_ref }}"),
                ));
            }
            steps.push(steps::checkout(ctx, findings, Depth::Full));
            steps.push(steps::install_ci_tools(ctx, findings));
            steps.push(Some(
                Step::run(
                    "Check the pull request title",
                    format!(
                        "\"{CI_TOOLS}\" commits lint --pr-title \"$TITLE\" --pr-author \"$AUTHOR\"\n"
                    ),
                )
                .env("TITLE", "${{ github.event.pull_request.title }}")
                .env("AUTHOR", "${{ github.event.pull_request.user.login }}"),
            ));
            // The push's rule: a release label set on the pull request wins, else its title.
            Step::run(
                "Compute the version it would release",
                format!(
                    "\"{CI_TOOLS}\" compute-version --release-type {release_type} --labels \"$PR_LABELS\" --pr-title \"$TITLE\"\n"
                ),
            )
            .env("TITLE", "${{ github.event.pull_request.title }}")
            .env(
                "PR_LABELS",
                "${{ join(github.event.pull_request.labels.*.name, ',') }}",
            )
        }
        Event::Push => {
            steps.push(steps::checkout(ctx, findings, Depth::Full));
            steps.push(steps::install_ci_tools(ctx, findings));
            steps.push(Some(
                Step::run(
                    "Check the pushed commits are conventional",
                    format!("\"{CI_TOOLS}\" commits lint --range \"$BEFORE..$GITHUB_SHA\"\n"),
                )
                .env("BEFORE", "${{ github.event.before }}"),
            ));
            if release_type == ReleaseType::Latest {
                // Only LATEST bumps; the bump is the merged pull request's (its labels, else its
                // conventional title), and the pull request is labelled with it.
                permissions = permissions.with(
                    Scope::PullRequests,
                    Level::Write,
                    "read the merged pull request and label it with its release",
                );
                Step::run(
                    "Compute the version",
                    format!(
                        "\"{CI_TOOLS}\" compute-version --release-type {release_type} --bump-from github --apply-labels\n"
                    ),
                )
                .env("GITHUB_TOKEN", "${{ github.token }}")
            } else {
                Step::run(
                    "Compute the version",
                    format!("\"{CI_TOOLS}\" compute-version --release-type {release_type}\n"),
                )
            }
        }
    };
    steps.push(Some(compute.id("version")));
    job.steps = steps.into_iter().flatten().collect();
    job.permissions = permissions;
    for key in ["current_version", "target_version", "skip"] {
        job.outputs.insert(
            key.into(),
            format!("${{{{ steps.version.outputs.{key} }}}}"),
        );
    }
    (INITIALIZE.to_string(), job)
}
