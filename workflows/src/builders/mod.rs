//! One workflow builder per build type (the seed's `InternalWorkflowBuilder`).
//!
//! A builder writes the stage jobs of its type (analysis, test, build) and, for images, the
//! Dockerfile its build output goes into; the common jobs around them (initialize, tag,
//! containerize, publish, release, notify, the merge gate) are the generator's. Adding a build
//! type is one file here, one variant of [`BuildType`] and one arm of [`builder`].

pub mod common;
pub mod docker;
pub mod golang;
pub mod react;
pub mod rust;
pub mod vendoring;

use cd_core::manifest::{BuildDefinition, BuildStage, BuildType, Catalog};

use crate::branching::BranchConfig;
use crate::context::{Ctx, Findings};
use crate::model::Jobs;

/// One option of `spec.<section>`: its key, its default and what it means.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The key, e.g. `target`.
    pub key: &'static str,
    /// The value used when the key is absent (`None`: no default, the feature is off).
    pub default: Option<&'static str>,
    /// What it means, for docs and messages.
    pub about: &'static str,
}

/// What containerize builds the image from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The build job's output (`<platform>/app` per platform, or one bundle for all), with the
    /// type's generated Dockerfile.
    Built,
    /// Nothing: the image is built from source by the repository's own Dockerfile.
    Source,
}

/// A build type's workflow builder.
pub trait WorkflowBuilder: Sync {
    /// The type it builds.
    fn build_type(&self) -> BuildType;

    /// The options it reads from `spec.<section>`.
    fn options(&self) -> &'static [OptionSpec];

    /// The stages it has jobs for; any other listed stage is reported.
    fn stages(&self) -> &'static [BuildStage];

    /// Checks option values beyond their grammar (which the catalog checks).
    fn check(&self, _build: &BuildDefinition, _findings: &mut Findings) {}

    /// The repository's branch configurations this build generates for (all, unless a type
    /// has reason to sit some out).
    fn branch_configurations(&self, configs: Vec<BranchConfig>) -> Vec<BranchConfig> {
        configs
    }

    /// Adds the stage jobs (analysis, test, build) for `build`, each needing `initialize`.
    /// Returns their ids.
    fn pipeline(
        &self,
        ctx: &Ctx<'_>,
        catalog: &Catalog,
        build: &BuildDefinition,
        jobs: &mut Jobs,
        findings: &mut Findings,
    ) -> Vec<String>;

    /// Jobs that run after the build was published, for builds that trigger others (none of
    /// the shipped types does).
    fn downstream_pipeline(
        &self,
        _ctx: &Ctx<'_>,
        _build: &BuildDefinition,
        _jobs: &mut Jobs,
        _findings: &mut Findings,
    ) -> Vec<String> {
        Vec::new()
    }

    /// Whether pull requests get a workflow (analysis, test and build without publishing).
    fn supports_pull_request_workflow(&self) -> bool {
        true
    }

    /// What the build job hands on to containerize and publish.
    fn output(&self) -> Output;

    /// The Dockerfile its output is packaged with, when the type brings one. `image` resolves
    /// a base image to its pinned `image:tag@digest`.
    fn dockerfile(
        &self,
        build: &BuildDefinition,
        image: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Option<String>;
}

/// The builder of `build_type`.
#[must_use]
pub fn builder(build_type: BuildType) -> &'static dyn WorkflowBuilder {
    match build_type {
        BuildType::Golang => &golang::Golang,
        BuildType::React => &react::React,
        BuildType::Docker => &docker::Docker,
        BuildType::Rust => &rust::Rust,
    }
}

/// The value of option `key` of `build`: as written, else the builder's default.
#[must_use]
pub fn option<'a>(
    builder: &dyn WorkflowBuilder,
    build: &'a BuildDefinition,
    key: &str,
) -> Option<&'a str> {
    build.options.get(key).map(String::as_str).or_else(|| {
        builder
            .options()
            .iter()
            .find(|o| o.key == key)
            .and_then(|o| o.default)
    })
}

/// Checks a build's options and stages against its builder.
pub fn check_build(build: &BuildDefinition, findings: &mut Findings) {
    let Some(build_type) = build.build_type else {
        return;
    };
    let b = builder(build_type);
    for key in build.options.keys() {
        if !b.options().iter().any(|o| o.key == *key) {
            let known: Vec<&str> = b.options().iter().map(|o| o.key).collect();
            findings.build(
                build,
                &format!("spec.{}.{key}", build_type.section()),
                format!(
                    "unknown option for type {build_type}; known: {}",
                    known.join(", ")
                ),
            );
        }
    }
    for (i, stage) in build.stages.iter().enumerate() {
        if !b.stages().contains(stage) {
            let known: Vec<&str> = b.stages().iter().map(|s| s.as_str()).collect();
            findings.build(
                build,
                &format!("spec.stages[{i}]"),
                format!(
                    "type {build_type} has no '{stage}' stage; its stages: {}",
                    known.join(", ")
                ),
            );
        }
    }
    b.check(build, findings);
}

/// A job id for `build`'s `stage`: the build's name with `.` made `-` (job ids allow letters,
/// digits, `-` and `_`).
#[must_use]
pub fn job_id(build: &BuildDefinition, stage: &str) -> String {
    format!("{}-{stage}", build.name.replace('.', "-"))
}

/// `services/api` joined to `file`, or `file` at the root.
#[must_use]
pub fn in_work_dir(build: &BuildDefinition, file: &str) -> String {
    match build.work_dir.as_deref().map(|d| d.trim_end_matches('/')) {
        Some(dir) if !dir.is_empty() && dir != "." => format!("{dir}/{file}"),
        _ => file.to_string(),
    }
}
