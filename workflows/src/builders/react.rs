//! REACT: `npm ci`, lint, test and build with the repository's own scripts; the static bundle
//! is served by an unprivileged nginx.

use cd_core::manifest::{BuildDefinition, BuildStage, BuildType, Catalog};

use super::common::{self, DIST, hands_on, stage_job};
use super::vendoring::{self, Vendoring};
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

const BASE_IMAGE: &str = "nginxinc/nginx-unprivileged";

impl React {
    /// The toolchain; `caches` only where a pull request's cache can do no harm (never in a
    /// release, never in the job that holds an identity).
    fn setup(
        &self,
        ctx: &Ctx<'_>,
        findings: &mut Findings,
        build: &BuildDefinition,
        caches: bool,
    ) -> Option<Step> {
        let version_file = in_work_dir(
            build,
            option(self, build, "nodeVersionFile").unwrap_or(".nvmrc"),
        );
        steps::action(ctx, findings, "Set up Node.js", steps::SETUP_NODE).map(|s| {
            let s = s.with("node-version-file", version_file);
            // Caches written by a release could be read back into a later release: only pull
            // requests use them.
            if caches && ctx.event == Event::PullRequest {
                s.with("cache", "npm").with(
                    "cache-dependency-path",
                    in_work_dir(build, "package-lock.json"),
                )
            } else {
                s.with("package-manager-cache", false)
            }
        })
    }

    /// Checkout, Node.js and the packages: `npm ci`, or with private repositories the
    /// dependencies job's `node_modules` and then the packages' own install scripts.
    fn prelude(
        &self,
        ctx: &Ctx<'_>,
        findings: &mut Findings,
        build: &BuildDefinition,
    ) -> Vec<Step> {
        let dir = build.work_dir.as_deref();
        let mut out = common::steps([
            steps::checkout(ctx, findings, steps::Depth::Commit),
            self.setup(ctx, findings, build, true),
        ]);
        if build.private_repositories.is_empty() {
            out.push(Step::run("npm ci", "npm ci\n").in_dir(dir));
        } else {
            out.extend(vendoring::use_dependencies(
                ctx, findings, build, &VENDORING,
            ));
            out.push(Step::run("Run the packages' install scripts", "npm rebuild\n").in_dir(dir));
        }
        out
    }
}

/// `node_modules`, installed with scripts off (no package's code runs).
const VENDORING: Vendoring = Vendoring {
    fetch: "npm ci --ignore-scripts\n",
    fetch_env: &[],
    pack: "tar -czf \"$RUNNER_TEMP/deps.tgz\" node_modules\n",
    unpack: "tar -xzf \"$RUNNER_TEMP/deps/deps.tgz\"\n",
};

impl WorkflowBuilder for React {
    fn build_type(&self) -> BuildType {
        BuildType::React
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn stages(&self) -> &'static [BuildStage] {
        BuildStage::ALL
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
        let toolchain = common::steps([self.setup(ctx, findings, build, false)]);
        vendoring::add_dependencies_job(ctx, catalog, findings, build, toolchain, &VENDORING, jobs);
        let mut ids = Vec::new();
        if build.has_stage(BuildStage::Analysis) {
            let mut job = stage_job(ctx, build, "Analysis", 20);
            job.steps = self.prelude(ctx, findings, build);
            job.steps
                .push(Step::run("npm run lint", "npm run --if-present lint\n").in_dir(dir));
            ids.push(common::add(jobs, job_id(build, "analysis"), job));
        }
        if build.has_stage(BuildStage::Test) {
            let mut job = stage_job(ctx, build, "Test", 30);
            job.steps = self.prelude(ctx, findings, build);
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
            job.steps = self.prelude(ctx, findings, build);
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
        Output::Built
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
