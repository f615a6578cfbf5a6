//! Private dependencies, fetched in a job of their own: the only job that may prove its
//! identity (`id-token: write`) to the Token Broker runs no code of the repository or of its
//! dependencies (the fetch commands run none), and hands the fetched dependencies on as an
//! archive. The stage jobs, which do run that code (tests, build scripts, install scripts),
//! unpack it and hold no identity a dependency could borrow.

use cd_core::manifest::{BuildDefinition, Catalog};

use super::common::{INITIALIZE, add};
use super::job_id;
use crate::context::{Ctx, Findings};
use crate::model::{Input, Job, Jobs, Level, Permissions, Scope, Step};
use crate::steps;

/// How a build type fetches, packs and unpacks its dependencies.
#[derive(Clone, Copy, Debug)]
pub struct Vendoring {
    /// Fetches every dependency and runs no code of them (in `workDir`).
    pub fetch: &'static str,
    /// Environment of the fetch.
    pub fetch_env: &'static [(&'static str, &'static str)],
    /// Writes `$RUNNER_TEMP/deps.tgz` (in `workDir`); tar keeps the files' modes.
    pub pack: &'static str,
    /// Unpacks `$RUNNER_TEMP/deps/deps.tgz` where the stage jobs look (in `workDir`).
    pub unpack: &'static str,
}

fn artifact(build: &BuildDefinition) -> String {
    format!("deps--{}", build.name)
}

/// Adds `<build>-dependencies` for a build that reads private repositories; `toolchain` are
/// the steps that set up the build's tools after checkout. Answers whether it did.
pub fn add_dependencies_job(
    ctx: &Ctx<'_>,
    catalog: &Catalog,
    findings: &mut Findings,
    build: &BuildDefinition,
    toolchain: Vec<Step>,
    vendoring: &Vendoring,
    jobs: &mut Jobs,
) -> bool {
    if build.private_repositories.is_empty() {
        return false;
    }
    let mut job = Job::new(format!("Dependencies ({})", build.name), ctx.runner(), 15);
    job.needs = vec![INITIALIZE.to_string()];
    job.permissions = Permissions::none()
        .with(Scope::Contents, Level::Read, "check out the dependency manifests")
        .with(
            Scope::IdToken,
            Level::Write,
            "prove this job to the Token Broker; it runs no code of the repository or its dependencies",
        );
    let repositories = steps::private_repositories(catalog, build);
    let mut fetch = steps::fetch_with_token(ctx, findings, build, &repositories, vendoring.fetch);
    if let Some(last) = fetch.last_mut() {
        for (k, v) in vendoring.fetch_env {
            last.env.insert((*k).to_string(), (*v).to_string());
        }
    }
    job.steps = steps::checkout(ctx, findings, steps::Depth::Commit)
        .into_iter()
        .chain(toolchain)
        .chain(fetch)
        .chain([
            Step::run("Pack the dependencies", vendoring.pack).in_dir(build.work_dir.as_deref())
        ])
        .chain(
            steps::action(
                ctx,
                findings,
                "Hand the dependencies on",
                steps::UPLOAD_ARTIFACT,
            )
            .map(|s| {
                s.with("name", artifact(build))
                    .with("path", "${{ runner.temp }}/deps.tgz")
                    .with("if-no-files-found", "error")
                    .with("retention-days", Input::Number(1))
            }),
        )
        .collect();
    add(jobs, job_id(build, "dependencies"), job);
    true
}

/// The steps a stage job runs to use the dependencies job's archive.
pub fn use_dependencies(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
    build: &BuildDefinition,
    vendoring: &Vendoring,
) -> Vec<Step> {
    steps::action(
        ctx,
        findings,
        "Take the dependencies",
        steps::DOWNLOAD_ARTIFACT,
    )
    .map(|s| {
        s.with("name", artifact(build))
            .with("path", "${{ runner.temp }}/deps")
    })
    .into_iter()
    .chain([
        Step::run("Unpack the dependencies", vendoring.unpack).in_dir(build.work_dir.as_deref())
    ])
    .collect()
}
