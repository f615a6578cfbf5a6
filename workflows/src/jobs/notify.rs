//! `<build>-notify`: the CD Manager's build notification, with the changelog since the base,
//! published to its Pub/Sub topic with the job's Workload Identity.

use cd_core::manifest::BuildDefinition;

use super::release::{NOT_SKIPPED, with_initialize};
use crate::builders::common;
use crate::context::{Ctx, Findings};
use crate::model::{Job, Level, Permissions, Scope, Step};
use crate::steps::{self, CI_TOOLS, Depth};

/// The `<build>-notify` job, after the image is published and released.
pub fn notify(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
    build: &BuildDefinition,
    containerize: &str,
    needs: Vec<String>,
) -> Option<(String, Job)> {
    let c = build.containerize.as_ref()?;
    let Some(topic) = ctx.settings.and_then(|s| s.notifications_topic.as_deref()) else {
        findings.build(
            build,
            "spec.containerize",
            "notifying the CD Manager needs a WorkflowSettings with spec.notificationsTopic".into(),
        );
        return None;
    };
    let mut job = Job::new(
        format!("Notify the CD Manager ({})", build.name),
        ctx.runner(),
        10,
    );
    job.needs = with_initialize(needs);
    job.condition = Some(NOT_SKIPPED.into());
    job.permissions = Permissions::none()
        .with(
            Scope::Contents,
            Level::Read,
            "read history for the changelog",
        )
        .with(Scope::IdToken, Level::Write, "Workload Identity Federation");
    let script = format!(
        "\
\"{CI_TOOLS}\" changelog --from \"$CURRENT\" --to \"$GITHUB_SHA\" --format json > \"$RUNNER_TEMP/changelog.json\"
\"{CI_TOOLS}\" notification --build-definition \"$BUILD_DEFINITION\" --container \"$CONTAINER\" \\
  --version \"$VERSION\" --digest \"$DIGEST\" --changelog \"$RUNNER_TEMP/changelog.json\" \\
  > \"$RUNNER_TEMP/notification.json\"
gcloud pubsub topics publish \"$TOPIC\" --message=\"$(cat \"$RUNNER_TEMP/notification.json\")\"
"
    );
    job.steps = common::steps([
        steps::checkout(ctx, findings, Depth::Full),
        steps::install_ci_tools(ctx, findings),
        steps::google_auth(ctx, findings, build, "spec.containerize", false),
        steps::setup_gcloud(ctx, findings),
        Some(
            Step::run("Publish the build notification", script)
                .env("BUILD_DEFINITION", build.name.clone())
                .env("CONTAINER", c.name.clone())
                .env("VERSION", "${{ needs.initialize.outputs.target_version }}")
                .env("CURRENT", "${{ needs.initialize.outputs.current_version }}")
                .env(
                    "DIGEST",
                    format!("${{{{ needs.{containerize}.outputs.digest }}}}"),
                )
                .env("TOPIC", topic),
        ),
    ]);
    Some((crate::builders::job_id(build, "notify"), job))
}
