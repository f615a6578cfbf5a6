//! REACT: `npm ci`, lint, test and build with the repository's own scripts; the static bundle
//! is served by an unprivileged nginx.

use cd_core::manifest::{BuildDefinition, BuildStage, BuildType, Catalog};

use super::common::{self, DIST, hands_on, stage_job};
use super::{OptionSpec, Output, WorkflowBuilder, in_work_dir, job_id, option};
use crate::context::{Ctx, Event, Findings};
use crate::model::{Jobs, Step};
use crate::steps;

/// The REACT builder.
#[derive(Debug)]
pub struct React;

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "nodeVersionFile",
        default: Some(".nvmrc"),
        about: "the file setup-node reads the Node.js version from, relative to workDir",
    },
    OptionSpec {
        key: "outputDir",
        default: Some("dist"),
        about: "where `npm run build` writes the bundle, relative to workDir",
    },
];

const STAGES: &[BuildStage] = &[
    BuildStage::Analysis,
    BuildStage::Test,
    BuildStage::Build,
    BuildStage::Publish,
    BuildStage::Containerize,
];

const BASE_IMAGE: &str = "nginxinc/nginx-unprivileged";

impl React {
    /// Checkout, Node.js, and `npm ci`: with the Token Broker's token when the build reads
    /// private repositories (scripts off while it is present), then the packages' own install
    /// scripts without it.
    fn prelude(
        &self,
        ctx: &Ctx<'_>,
        catalog: &Catalog,
        findings: &mut Findings,
        build: &BuildDefinition,
    ) -> Vec<Step> {
        let dir = build.work_dir.as_deref();
        let version_file = in_work_dir(
            build,
            option(self, build, "nodeVersionFile").unwrap_or(".nvmrc"),
        );
        let setup = steps::action(ctx, findings, "Set up Node.js", steps::SETUP_NODE).map(|s| {
            let s = s.with("node-version-file", version_file);
            // Caches written by a release could be read back into a later release: only pull
            // requests use them.
            if ctx.event == Event::PullRequest {
                s.with("cache", "npm").with(
                    "cache-dependency-path",
                    in_work_dir(build, "package-lock.json"),
                )
            } else {
                s.with("package-manager-cache", false)
            }
        });
        let mut out = common::steps([steps::checkout(ctx, findings, steps::Depth::Commit), setup]);
        if build.private_repositories.is_empty() {
            out.push(Step::run("npm ci", "npm ci\n").in_dir(dir));
        } else {
            let repositories = steps::private_repositories(catalog, build);
            out.extend(steps::private_fetch(
                ctx,
                findings,
                build,
                &repositories,
                "npm ci --ignore-scripts",
                dir,
            ));
            out.push(Step::run("Run the packages' install scripts", "npm rebuild\n").in_dir(dir));
        }
        out
    }
}

impl WorkflowBuilder for React {
    fn build_type(&self) -> BuildType {
        BuildType::React
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn stages(&self) -> &'static [BuildStage] {
        STAGES
    }

    fn pipeline(
        &self,
        ctx: &Ctx<'_>,
        catalog: &Catalog,
        build: &BuildDefinition,
        jobs: &mut Jobs,
        findings: &mut Findings,
    ) -> Vec<String> {
        let dir = build.work_dir.as_deref();
        let mut ids = Vec::new();
        if build.has_stage(BuildStage::Analysis) {
            let mut job = stage_job(ctx, build, "Analysis", 20);
            job.steps = self.prelude(ctx, catalog, findings, build);
            job.steps
                .push(Step::run("npm run lint", "npm run --if-present lint\n").in_dir(dir));
            ids.push(common::add(jobs, job_id(build, "analysis"), job));
        }
        if build.has_stage(BuildStage::Test) {
            let mut job = stage_job(ctx, build, "Test", 30);
            job.steps = self.prelude(ctx, catalog, findings, build);
            job.steps.push(
                Step::run("npm test", "npm test\n")
                    .env("CI", "true")
                    .in_dir(dir),
            );
            ids.push(common::add(jobs, job_id(build, "test"), job));
        }
        let hand_on = hands_on(ctx, build);
        if build.has_stage(BuildStage::Build) || hand_on {
            let mut job = stage_job(ctx, build, "Build", 20);
            job.steps = self.prelude(ctx, catalog, findings, build);
            job.steps.push(
                Step::run("npm run build", "npm run build\n")
                    .env("VERSION", "${{ needs.initialize.outputs.target_version }}")
                    .in_dir(dir),
            );
            if hand_on {
                job.steps.push(
                    Step::run(
                        "Collect the bundle",
                        format!("mkdir -p \"{DIST}\"\ncp -R \"$OUTPUT_DIR\"/. \"{DIST}/\"\n"),
                    )
                    .env(
                        "OUTPUT_DIR",
                        option(self, build, "outputDir").unwrap_or("dist"),
                    )
                    .in_dir(dir),
                );
                job.steps
                    .extend(common::upload_output(ctx, findings, build, false));
            }
            ids.push(common::add(jobs, job_id(build, "build"), job));
        }
        ids
    }

    fn output(&self) -> Output {
        Output::Shared
    }

    fn dockerfile(
        &self,
        build: &BuildDefinition,
        image: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Option<String> {
        let base = image(BASE_IMAGE)?;
        Some(format!(
            "\
# Generated by Infrastream CD for BuildDefinition {name}: the static bundle CI built, served
# by nginx as an unprivileged user on port 8080. The files belong to root: read-only to nginx.
FROM {base}
COPY . /usr/share/nginx/html
USER 101
EXPOSE 8080
",
            name = build.name
        ))
    }
}
