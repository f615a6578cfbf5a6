//! DOCKER: the repository's own Dockerfile is the build. The build stage checks that it
//! builds; containerize builds it for every platform.

use cd_core::manifest::{BuildDefinition, BuildStage, BuildType, Catalog};

use super::common::{self, stage_job};
use super::{OptionSpec, Output, WorkflowBuilder, in_work_dir, job_id, option};
use crate::context::{Ctx, Findings};
use crate::model::{Jobs, Step};
use crate::steps;

/// The DOCKER builder.
#[derive(Debug)]
pub struct Docker;

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "file",
        default: Some("Dockerfile"),
        about: "the Dockerfile, relative to workDir",
    },
    OptionSpec {
        key: "target",
        default: None,
        about: "the stage of a multi-stage Dockerfile to build (default: the last)",
    },
];

const STAGES: &[BuildStage] = &[BuildStage::Build, BuildStage::Containerize];

/// The Dockerfile and build context of `build`, relative to the repository root.
#[must_use]
pub fn source(build: &BuildDefinition) -> (String, String) {
    let file = in_work_dir(
        build,
        option(&Docker, build, "file").unwrap_or("Dockerfile"),
    );
    let context = in_work_dir(build, ".");
    (file, context)
}

impl WorkflowBuilder for Docker {
    fn build_type(&self) -> BuildType {
        BuildType::Docker
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn stages(&self) -> &'static [BuildStage] {
        STAGES
    }

    fn check(&self, build: &BuildDefinition, findings: &mut Findings) {
        if !build.private_repositories.is_empty() {
            findings.build(
                build,
                "spec.privateRepositories",
                "DOCKER builds cannot read private repositories yet (a BuildKit secret from the Token Broker is planned): build with GOLANG, REACT or RUST, or vendor the dependency".into(),
            );
        }
    }

    fn pipeline(
        &self,
        ctx: &Ctx<'_>,
        _catalog: &Catalog,
        build: &BuildDefinition,
        jobs: &mut Jobs,
        findings: &mut Findings,
    ) -> Vec<String> {
        if !build.has_stage(BuildStage::Build) {
            return Vec::new();
        }
        let (file, context) = source(build);
        let mut job = stage_job(ctx, build, "Build", 30);
        job.steps = common::steps([
            steps::checkout(ctx, findings, steps::Depth::Commit),
            steps::action(ctx, findings, "Set up Buildx", steps::SETUP_BUILDX),
        ]);
        let mut check = Step::run(
            "Build the image (not pushed)",
            "\
args=(--platform linux/amd64 --file \"$DOCKERFILE\")
if [ -n \"${TARGET:-}\" ]; then args+=(--target \"$TARGET\"); fi
docker buildx build \"${args[@]}\" \"$CONTEXT\"
",
        )
        .env("DOCKERFILE", file)
        .env("CONTEXT", context);
        if let Some(target) = option(self, build, "target") {
            check = check.env("TARGET", target);
        }
        job.steps.push(check);
        vec![common::add(jobs, job_id(build, "build"), job)]
    }

    fn output(&self) -> Output {
        Output::Source
    }

    fn dockerfile(
        &self,
        _build: &BuildDefinition,
        _image: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Option<String> {
        None
    }
}
