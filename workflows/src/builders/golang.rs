//! GOLANG: `go vet` and gofmt, `go test -race`, a static binary per platform
//! (`golang.target`), packaged on distroless.

use cd_core::manifest::{BuildDefinition, BuildStage, BuildType, Catalog};

use super::common::{self, DIST, hands_on, stage_job};
use super::vendoring::{self, Vendoring};
use super::{OptionSpec, Output, WorkflowBuilder, in_work_dir, job_id, option};
use crate::context::{Ctx, Event, Findings};
use crate::model::{Jobs, Step};
use crate::steps;

/// The GOLANG builder.
#[derive(Debug)]
pub struct Golang;

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "target",
        default: Some("."),
        about: "the package or file `go build` makes the binary of (`main.go`, `./cmd/api`)",
    },
    OptionSpec {
        key: "buildType",
        default: Some("bin"),
        about: "`bin`: a binary (the image's entry point); `lib`: a library, compiled only",
    },
    OptionSpec {
        key: "goVersionFile",
        default: Some("go.mod"),
        about: "the file setup-go reads the Go version from, relative to workDir",
    },
];

const BASE_IMAGE: &str = "gcr.io/distroless/static-debian12";

impl Golang {
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
            option(self, build, "goVersionFile").unwrap_or("go.mod"),
        );
        // Caches written by a release could be read back into a later release: only pull
        // requests use them.
        Some(
            steps::action(ctx, findings, "Set up Go", steps::SETUP_GO)?
                .with("go-version-file", version_file)
                .with("cache", caches && ctx.event == Event::PullRequest),
        )
    }

    /// Checkout, Go, and the private modules from the dependencies job.
    fn prelude(
        &self,
        ctx: &Ctx<'_>,
        findings: &mut Findings,
        build: &BuildDefinition,
    ) -> Vec<Step> {
        let mut out = common::steps([
            steps::checkout(ctx, findings, steps::Depth::Commit),
            self.setup(ctx, findings, build, true),
        ]);
        if !build.private_repositories.is_empty() {
            out.extend(vendoring::use_dependencies(
                ctx, findings, build, &VENDORING,
            ));
        }
        out
    }
}

/// The module cache, fetched with `go mod download` (which runs no module's code).
const VENDORING: Vendoring = Vendoring {
    fetch: "go mod download\n",
    fetch_env: &[],
    pack: "tar -C \"$(go env GOMODCACHE)\" -czf \"$RUNNER_TEMP/deps.tgz\" .\n",
    unpack: "\
cache=\"$(go env GOMODCACHE)\"
mkdir -p \"$cache\"
tar -C \"$cache\" -xzf \"$RUNNER_TEMP/deps/deps.tgz\"
",
};

impl WorkflowBuilder for Golang {
    fn build_type(&self) -> BuildType {
        BuildType::Golang
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn stages(&self) -> &'static [BuildStage] {
        BuildStage::ALL
    }

    fn check(&self, build: &BuildDefinition, findings: &mut Findings) {
        match option(self, build, "buildType") {
            Some("bin") | None => {}
            Some("lib") if build.containerize.is_some() || build.has_stage(BuildStage::Publish) => {
                findings.build(
                    build,
                    "spec.golang.buildType",
                    "'lib' builds no binary to containerize or publish".into(),
                );
            }
            Some("lib") => {}
            Some(other) => findings.build(
                build,
                "spec.golang.buildType",
                format!("'{other}' is not one of bin, lib"),
            ),
        }
        if let Some(c) = &build.containerize {
            for (i, p) in c.platforms.iter().enumerate() {
                let parts: Vec<&str> = p.split('/').collect();
                if parts.len() == 3 && parts.get(1) != Some(&"arm") {
                    findings.build(
                        build,
                        &format!("spec.containerize.platforms[{i}]"),
                        format!("'{p}': GOLANG builds take a variant only for arm (linux/arm/v7)"),
                    );
                }
            }
        }
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
        let private_env = |job: &mut crate::model::Job| {
            if !build.private_repositories.is_empty() {
                job.env
                    .insert("GOPRIVATE".into(), format!("github.com/{}/*", ctx.owner));
            }
        };
        let toolchain = common::steps([self.setup(ctx, findings, build, false)]);
        if vendoring::add_dependencies_job(
            ctx, catalog, findings, build, toolchain, &VENDORING, jobs,
        ) && let Some((_, job)) = jobs.0.last_mut()
        {
            private_env(job);
        }
        let mut ids = Vec::new();
        if build.has_stage(BuildStage::Analysis) {
            let mut job = stage_job(ctx, build, "Analysis", 20);
            private_env(&mut job);
            job.steps = self.prelude(ctx, findings, build);
            job.steps
                .push(Step::run("go vet", "go vet ./...\n").in_dir(dir));
            job.steps.push(
                Step::run(
                    "gofmt",
                    "\
unformatted=$(gofmt -l .)
if [ -n \"$unformatted\" ]; then
  echo \"::error::not gofmt-formatted:\"
  echo \"$unformatted\"
  exit 1
fi
",
                )
                .in_dir(dir),
            );
            ids.push(common::add(jobs, job_id(build, "analysis"), job));
        }
        if build.has_stage(BuildStage::Test) {
            let mut job = stage_job(ctx, build, "Test", 30);
            private_env(&mut job);
            job.steps = self.prelude(ctx, findings, build);
            job.steps
                .push(Step::run("go test -race", "go test -race ./...\n").in_dir(dir));
            ids.push(common::add(jobs, job_id(build, "test"), job));
        }
        let binary = option(self, build, "buildType") != Some("lib");
        let hand_on = hands_on(ctx, build) && binary;
        if build.has_stage(BuildStage::Build) || hand_on {
            let mut job = stage_job(ctx, build, "Build", 20);
            private_env(&mut job);
            job.steps = self.prelude(ctx, findings, build);
            if hand_on {
                job.name = format!("Build ({}, ${{{{ matrix.platform }}}})", build.name);
                job.strategy = Some(common::platform_matrix(build, |_| Default::default()));
                job.steps.push(
                    Step::run(
                        "Build the binary",
                        format!(
                            "\
os=\"${{PLATFORM%%/*}}\"
arch=\"${{PLATFORM#*/}}\"
if [ \"${{arch#*/}}\" != \"$arch\" ]; then
  export GOARM=\"${{arch#*/v}}\"
  arch=\"${{arch%%/*}}\"
fi
CGO_ENABLED=0 GOOS=\"$os\" GOARCH=\"$arch\" go build -trimpath \\
  -ldflags=\"-s -w -X main.version=$VERSION\" -o \"{DIST}/$PLATFORM/app\" \"$TARGET\"
"
                        ),
                    )
                    .env("PLATFORM", "${{ matrix.platform }}")
                    .env("TARGET", option(self, build, "target").unwrap_or("."))
                    .env("VERSION", "${{ needs.initialize.outputs.target_version }}")
                    .in_dir(dir),
                );
                job.steps
                    .extend(common::upload_output(ctx, findings, build, true));
            } else {
                job.steps
                    .push(Step::run("go build", "go build ./...\n").in_dir(dir));
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
        Some(common::binary_dockerfile(
            build,
            &base,
            "the static Go binary",
        ))
    }
}
