//! Pieces every builder's stage jobs share: the job frame, the platform matrix, the artifact
//! hand-over to containerize.

use std::collections::BTreeMap;

use cd_core::manifest::{BuildDefinition, BuildStage};

use crate::context::{Ctx, Findings};
use crate::model::{Job, Jobs, Level, Matrix, Permissions, Scope, Step, Strategy};
use crate::steps;

/// The id of the job every stage job waits for.
pub const INITIALIZE: &str = "initialize";

/// Where a build job leaves its output, on the runner.
pub const DIST: &str = "$RUNNER_TEMP/dist";

/// A stage job of `build`: needs `initialize`, reads the repository, and may prove its
/// identity to the Token Broker when the build reads private repositories.
#[must_use]
pub fn stage_job(ctx: &Ctx<'_>, build: &BuildDefinition, title: &str, timeout: u32) -> Job {
    let mut job = Job::new(format!("{title} ({})", build.name), ctx.runner(), timeout);
    job.needs = vec![INITIALIZE.to_string()];
    job.permissions = reads_repository(build);
    job
}

/// `contents: read`, plus `id-token: write` when the build asks the Token Broker for access
/// to private repositories.
#[must_use]
pub fn reads_repository(build: &BuildDefinition) -> Permissions {
    let p = Permissions::none().with(Scope::Contents, Level::Read, "check out the repository");
    if build.private_repositories.is_empty() {
        p
    } else {
        p.with(
            Scope::IdToken,
            Level::Write,
            "prove this job to the Token Broker for the private repositories",
        )
    }
}

/// Whether this workflow's build job must hand its output on: a push that releases, for a
/// build that containerizes or publishes.
#[must_use]
pub fn hands_on(ctx: &Ctx<'_>, build: &BuildDefinition) -> bool {
    ctx.releases()
        && (build.has_stage(BuildStage::Containerize) || build.has_stage(BuildStage::Publish))
}

/// The artifact name of `build`'s output for `slug` (`linux-amd64`, or `all`). `--` separates
/// the parts: names never hold it.
#[must_use]
pub fn artifact(build: &BuildDefinition, slug: &str) -> String {
    format!("build--{}--{slug}", build.name)
}

/// `linux/arm/v7` -> `linux-arm-v7`.
#[must_use]
pub fn slug(platform: &str) -> String {
    platform.replace('/', "-")
}

/// A matrix over the build's image platforms: `platform` and `slug` per leg, plus any extra
/// variables `more` gives for a platform.
#[must_use]
pub fn platform_matrix(
    build: &BuildDefinition,
    more: impl Fn(&str) -> BTreeMap<String, String>,
) -> Strategy {
    let platforms = build
        .containerize
        .as_ref()
        .map_or_else(|| vec!["linux/amd64"], |c| c.platforms());
    Strategy {
        fail_fast: true,
        matrix: Matrix {
            include: platforms
                .into_iter()
                .map(|p| {
                    let mut leg = more(p);
                    leg.insert("platform".into(), p.to_string());
                    leg.insert("slug".into(), slug(p));
                    leg
                })
                .collect(),
        },
    }
}

/// Uploads `$RUNNER_TEMP/dist` as the artifact of this matrix leg (`per_platform`) or of the
/// whole build; kept one day, since the release jobs of the same run are its only readers.
pub fn upload_output(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
    build: &BuildDefinition,
    per_platform: bool,
) -> Option<Step> {
    let name = if per_platform {
        artifact(build, "${{ matrix.slug }}")
    } else {
        artifact(build, "all")
    };
    Some(
        steps::action(
            ctx,
            findings,
            "Hand the build output on",
            steps::UPLOAD_ARTIFACT,
        )?
        .with("name", name)
        .with("path", "${{ runner.temp }}/dist")
        .with("if-no-files-found", "error")
        .with("retention-days", crate::model::Input::Number(1)),
    )
}

/// Collects the steps of a job, dropping the ones a missing pin or setting made impossible (a
/// problem was recorded for each).
pub fn steps(parts: impl IntoIterator<Item = Option<Step>>) -> Vec<Step> {
    parts.into_iter().flatten().collect()
}

/// Adds `job` as `id`; returns the id.
pub fn add(jobs: &mut Jobs, id: String, job: Job) -> String {
    jobs.0.push((id.clone(), job));
    id
}
