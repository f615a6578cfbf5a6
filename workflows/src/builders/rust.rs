//! RUST: `cargo fmt` and clippy, `cargo test`, a release binary per platform (arm64 with the
//! GNU cross linker), packaged on distroless (glibc, no shell).

use std::collections::BTreeMap;

use cd_core::manifest::{BuildDefinition, BuildStage, BuildType, Catalog};

use super::common::{self, DIST, hands_on, stage_job};
use super::vendoring::{self, Vendoring};
use super::{OptionSpec, Output, WorkflowBuilder, job_id, option};
use crate::context::{Ctx, Findings};
use crate::model::{Jobs, Step};
use crate::steps;

/// The RUST builder.
#[derive(Debug)]
pub struct Rust;

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "bin",
        default: None,
        about: "the binary target the image runs (default: the BuildDefinition's name)",
    },
    OptionSpec {
        key: "toolchain",
        default: None,
        about: "a rustup toolchain (default: the repository's rust-toolchain.toml, else stable)",
    },
];

/// Platforms a build reaches from an x86-64 runner: natively, or with the GNU cross linker.
const NATIVE: &[&str] = &["linux/amd64", "linux/arm64"];

/// Binaries are built on this runner: its glibc (2.35) is not newer than the distroless
/// base's (Debian 12, 2.36), so they run there.
const GLIBC_RUNNER: &str = "ubuntu-22.04";

const BASE_IMAGE: &str = "gcr.io/distroless/cc-debian12";

/// Cargo's registry and git checkouts, fetched with `cargo fetch` (which runs no build script)
/// through git itself, which honours the token's URL rewrite.
const VENDORING: Vendoring = Vendoring {
    fetch: "cargo fetch --locked\n",
    fetch_env: &[("CARGO_NET_GIT_FETCH_WITH_CLI", "true")],
    pack: "\
home=\"${CARGO_HOME:-$HOME/.cargo}\"
dirs=()
for d in registry git; do
  if [ -d \"$home/$d\" ]; then dirs+=(\"$d\"); fi
done
tar -C \"$home\" -czf \"$RUNNER_TEMP/deps.tgz\" \"${dirs[@]}\"
",
    unpack: "\
home=\"${CARGO_HOME:-$HOME/.cargo}\"
mkdir -p \"$home\"
tar -C \"$home\" -xzf \"$RUNNER_TEMP/deps/deps.tgz\"
",
};

impl Rust {
    /// The toolchain (the repository's `rust-toolchain.toml`, or the `toolchain` option), with
    /// `components`.
    fn toolchain(&self, build: &BuildDefinition, components: &str) -> Step {
        self.with_toolchain(
            build,
            Step::run(
                "Set up the Rust toolchain",
                format!("rustup toolchain install --profile minimal\n{components}"),
            ),
        )
        .in_dir(build.work_dir.as_deref())
    }

    /// Checkout, the toolchain, and the dependencies job's registry and git checkouts.
    fn prelude(
        &self,
        ctx: &Ctx<'_>,
        findings: &mut Findings,
        build: &BuildDefinition,
        components: &str,
    ) -> Vec<Step> {
        let mut out = common::steps([steps::checkout(ctx, findings, steps::Depth::Commit)]);
        out.push(self.toolchain(build, components));
        if !build.private_repositories.is_empty() {
            out.extend(vendoring::use_dependencies(
                ctx, findings, build, &VENDORING,
            ));
        }
        out
    }

    fn with_toolchain(&self, build: &BuildDefinition, step: Step) -> Step {
        match option(self, build, "toolchain") {
            Some(t) => step.env("RUSTUP_TOOLCHAIN", t),
            None => step,
        }
    }
}

impl WorkflowBuilder for Rust {
    fn build_type(&self) -> BuildType {
        BuildType::Rust
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn stages(&self) -> &'static [BuildStage] {
        BuildStage::ALL
    }

    fn check(&self, build: &BuildDefinition, findings: &mut Findings) {
        if let Some(c) = &build.containerize {
            for (i, p) in c.platforms.iter().enumerate() {
                if !NATIVE.contains(&p.as_str()) {
                    findings.build(
                        build,
                        &format!("spec.containerize.platforms[{i}]"),
                        format!("'{p}': RUST builds for {}", NATIVE.join(", ")),
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
        let toolchain = vec![self.toolchain(build, "")];
        let private = vendoring::add_dependencies_job(
            ctx, catalog, findings, build, toolchain, &VENDORING, jobs,
        );
        // The stage jobs use what the dependencies job fetched, and nothing else.
        let stage = |title: &str, timeout: u32| {
            let mut job = stage_job(ctx, build, title, timeout);
            if private {
                job.env.insert("CARGO_NET_OFFLINE".into(), "true".into());
            }
            job
        };
        let mut ids = Vec::new();
        if build.has_stage(BuildStage::Analysis) {
            let mut job = stage("Analysis", 30);
            job.steps = self.prelude(
                ctx,
                findings,
                build,
                "rustup component add rustfmt clippy\n",
            );
            job.steps.push(
                self.with_toolchain(
                    build,
                    Step::run("cargo fmt", "cargo fmt --all -- --check\n"),
                )
                .in_dir(dir),
            );
            job.steps.push(
                self.with_toolchain(
                    build,
                    Step::run(
                        "cargo clippy",
                        "cargo clippy --all-targets --locked -- -D warnings\n",
                    ),
                )
                .in_dir(dir),
            );
            ids.push(common::add(jobs, job_id(build, "analysis"), job));
        }
        if build.has_stage(BuildStage::Test) {
            let mut job = stage("Test", 45);
            job.steps = self.prelude(ctx, findings, build, "");
            job.steps.push(
                self.with_toolchain(build, Step::run("cargo test", "cargo test --locked\n"))
                    .in_dir(dir),
            );
            ids.push(common::add(jobs, job_id(build, "test"), job));
        }
        let hand_on = hands_on(ctx, build);
        if build.has_stage(BuildStage::Build) || hand_on {
            let mut job = stage("Build", 45);
            job.steps = self.prelude(ctx, findings, build, "");
            if hand_on {
                job.name = format!("Build ({}, ${{{{ matrix.platform }}}})", build.name);
                job.runs_on = GLIBC_RUNNER.into();
                job.strategy = Some(common::platform_matrix(build, |p| {
                    let target = if p == "linux/arm64" {
                        "aarch64-unknown-linux-gnu"
                    } else {
                        "x86_64-unknown-linux-gnu"
                    };
                    BTreeMap::from([("target".to_string(), target.to_string())])
                }));
                let bin = option(self, build, "bin").unwrap_or(&build.name);
                job.steps.push(
                    self.with_toolchain(
                        build,
                        Step::run(
                            "Build the binary",
                            format!(
                                "\
rustup target add \"$TARGET\"
if [ \"$TARGET\" = aarch64-unknown-linux-gnu ]; then
  sudo apt-get update -qq
  sudo apt-get install -y -qq gcc-aarch64-linux-gnu
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
fi
cargo build --release --locked --target \"$TARGET\" --bin \"$BIN\"
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
install -D -m 0755 \"$target_dir/$TARGET/release/$BIN\" \"{DIST}/$PLATFORM/app\"
"
                            ),
                        ),
                    )
                    .env("BIN", bin)
                    .env("PLATFORM", "${{ matrix.platform }}")
                    .env("TARGET", "${{ matrix.target }}")
                    .in_dir(dir),
                );
                job.steps
                    .extend(common::upload_output(ctx, findings, build, true));
            } else {
                job.steps.push(
                    self.with_toolchain(
                        build,
                        Step::run("cargo build", "cargo build --release --locked\n"),
                    )
                    .in_dir(dir),
                );
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
            "the release binary (glibc)",
        ))
    }
}
