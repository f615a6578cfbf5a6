//! `containerize` and `publish`: the image is built once, for every platform, into an OCI
//! archive with BuildKit's SLSA provenance inside its index; then pushed, digest preserved, to
//! every registry in parallel, and attested for Binary Authorization with the Cloud KMS key.
//! That signature is over the index digest, so it covers the provenance too.

use std::collections::BTreeMap;

use cd_core::manifest::BuildDefinition;

use super::release::{NOT_SKIPPED, with_initialize};
use crate::builders::common;
use crate::builders::{Output, WorkflowBuilder, docker};
use crate::context::{Ctx, Findings};
use crate::model::{Input, Job, Level, Matrix, Permissions, Scope, Step, Strategy};
use crate::steps;

/// Where a build's generated Dockerfile lives in its repository.
#[must_use]
pub fn dockerfile_path(build: &BuildDefinition) -> String {
    format!(".github/infrastream/{}.Dockerfile", build.name)
}

/// The artifact holding `build`'s image archive.
fn image_artifact(build: &BuildDefinition) -> String {
    format!("image--{}", build.name)
}

const BUILD_SCRIPT: &str = "\
created=$(TZ=UTC0 git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)
args=(
  --platform \"$PLATFORMS\"
  --file \"$DOCKERFILE\"
  --label \"org.opencontainers.image.source=$SOURCE\"
  --label \"org.opencontainers.image.version=$VERSION\"
  --label \"org.opencontainers.image.revision=$GITHUB_SHA\"
  --label \"org.opencontainers.image.created=$created\"
  --provenance mode=max
  --output \"type=oci,dest=$RUNNER_TEMP/image.tar\"
  --metadata-file \"$RUNNER_TEMP/metadata.json\"
)
if [ -n \"${TARGET:-}\" ]; then args+=(--target \"$TARGET\"); fi
while IFS= read -r arg; do
  if [ -n \"$arg\" ]; then args+=(--build-arg \"$arg\"); fi
done <<< \"${BUILD_ARGS:-}\"
docker buildx build \"${args[@]}\" \"$CONTEXT\"
digest=$(jq -r '.\"containerimage.digest\"' \"$RUNNER_TEMP/metadata.json\")
echo \"image digest: $digest\"
echo \"digest=$digest\" >> \"$GITHUB_OUTPUT\"
";

/// The `<build>-containerize` job. `needs` are the build's stage jobs.
pub fn containerize(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
    builder: &dyn WorkflowBuilder,
    build: &BuildDefinition,
    needs: Vec<String>,
) -> Option<(String, Job)> {
    let c = build.containerize.as_ref()?;
    let mut job = Job::new(format!("Containerize ({})", build.name), ctx.runner(), 30);
    job.needs = with_initialize(needs);
    job.condition = Some(NOT_SKIPPED.into());
    job.permissions = Permissions::none().with(
        Scope::Contents,
        Level::Read,
        "check out the Dockerfile and the commit time",
    );
    let platforms = c.platforms();
    let from_source = builder.output() == Output::Source;
    let (dockerfile, context, target) = if from_source {
        let (file, context) = docker::source(build);
        let target = crate::builders::option(builder, build, "target").map(str::to_string);
        (file, context, target)
    } else {
        (
            dockerfile_path(build),
            "${{ runner.temp }}/context".to_string(),
            None,
        )
    };
    let mut parts = vec![steps::checkout(ctx, findings, steps::Depth::Commit)];
    if from_source {
        // A repository's Dockerfile may RUN commands: foreign platforms need emulation. The
        // generated ones only COPY, which needs none.
        if platforms.iter().any(|p| *p != "linux/amd64") {
            parts.push(
                steps::action(ctx, findings, "Set up QEMU", steps::SETUP_QEMU)
                    .map(|s| s.with("platforms", platforms.join(","))),
            );
        }
    } else {
        parts.push(common::download_output(ctx, findings, build, "context"));
    }
    parts.push(steps::action(
        ctx,
        findings,
        "Set up Buildx",
        steps::SETUP_BUILDX,
    ));
    let build_args: String = c
        .build_args
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    let mut step = Step::run("Build the image for every platform", BUILD_SCRIPT)
        .id("image")
        .env("PLATFORMS", platforms.join(","))
        .env("DOCKERFILE", dockerfile)
        .env("CONTEXT", context)
        .env(
            "SOURCE",
            "${{ github.server_url }}/${{ github.repository }}",
        )
        .env("VERSION", "${{ needs.initialize.outputs.target_version }}");
    if let Some(target) = target {
        step = step.env("TARGET", target);
    }
    if !build_args.is_empty() {
        step = step.env("BUILD_ARGS", build_args);
    }
    parts.push(Some(step));
    parts.push(
        steps::action(ctx, findings, "Hand the image on", steps::UPLOAD_ARTIFACT).map(|s| {
            s.with("name", image_artifact(build))
                .with("path", "${{ runner.temp }}/image.tar")
                .with("if-no-files-found", "error")
                .with("retention-days", Input::Number(1))
        }),
    );
    job.steps = common::steps(parts);
    job.outputs
        .insert("digest".into(), "${{ steps.image.outputs.digest }}".into());
    Some((crate::builders::job_id(build, "containerize"), job))
}

/// `HOST/PROJECT/REPOSITORY` of each of the build's image registries, by ArtifactRegistry
/// name; a problem for each the settings do not place.
fn registries(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
    build: &BuildDefinition,
) -> Vec<(String, String)> {
    let Some(c) = &build.containerize else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, name) in c.registries.iter().enumerate() {
        match ctx.settings.and_then(|s| s.registries.get(name)) {
            Some(path) => out.push((name.clone(), format!("{path}/{}", c.name))),
            None => findings.build(
                build,
                &format!("spec.containerize.registries[{i}]"),
                format!("WorkflowSettings spec.registries does not say where ArtifactRegistry '{name}' is (HOST/PROJECT/REPOSITORY)"),
            ),
        }
    }
    if c.registries.is_empty() {
        findings.build(
            build,
            "spec.containerize.registries",
            "an image needs at least one registry to be pushed to".into(),
        );
    }
    out
}

const PUSH_SCRIPT: &str = "\
skopeo copy --all --preserve-digests --retry-times 3 \\
  \"oci-archive:$RUNNER_TEMP/image/image.tar\" \"docker://$IMAGE:$VERSION\"
pushed=$(skopeo inspect --raw \"docker://$IMAGE:$VERSION\" | sha256sum | cut -d' ' -f1)
if [ \"sha256:$pushed\" != \"$DIGEST\" ]; then
  echo \"::error::$IMAGE:$VERSION is sha256:$pushed in the registry, built as $DIGEST\"
  exit 1
fi
echo \"pushed $IMAGE:$VERSION@$DIGEST\"
";

/// The `<build>-publish` job: one leg per registry.
pub fn publish(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
    build: &BuildDefinition,
    containerize: &str,
) -> Option<(String, Job)> {
    let registries = registries(ctx, findings, build);
    let mut job = Job::new(
        format!("Publish ({}, ${{{{ matrix.registry }}}})", build.name),
        ctx.runner(),
        20,
    );
    job.needs = with_initialize(vec!["tag".into(), containerize.to_string()]);
    job.condition = Some(NOT_SKIPPED.into());
    job.permissions =
        Permissions::none().with(Scope::IdToken, Level::Write, "Workload Identity Federation");
    job.strategy = Some(Strategy {
        fail_fast: false,
        matrix: Matrix {
            include: registries
                .iter()
                .map(|(name, image)| {
                    BTreeMap::from([
                        ("registry".to_string(), name.clone()),
                        ("image".to_string(), image.clone()),
                    ])
                })
                .collect(),
        },
    });
    let binauthz = ctx.settings.and_then(|s| s.binary_authorization.as_ref());
    if binauthz.is_none() {
        findings.build(
            build,
            "spec.containerize",
            "publishing an image needs a WorkflowSettings with spec.binaryAuthorization (attestor and KMS key)".into(),
        );
    }
    let digest = format!("${{{{ needs.{containerize}.outputs.digest }}}}");
    let login = Step::run(
        "Log in to the registry with the short-lived token",
        "printf '%s' \"$ACCESS_TOKEN\" | docker login --username oauth2accesstoken --password-stdin \"https://${IMAGE%%/*}\"\n",
    )
    .env("ACCESS_TOKEN", "${{ steps.gcp.outputs.access_token }}")
    .env("IMAGE", "${{ matrix.image }}");
    let push = Step::run("Push, keeping the digest", PUSH_SCRIPT)
        .env("IMAGE", "${{ matrix.image }}")
        .env("VERSION", "${{ needs.initialize.outputs.target_version }}")
        .env("DIGEST", digest.clone());
    let attest = binauthz.map(|b| {
        Step::run(
            "Sign the Binary Authorization attestation (Cloud KMS)",
            "\
gcloud container binauthz attestations sign-and-create \\
  --artifact-url=\"$IMAGE@$DIGEST\" --attestor=\"$ATTESTOR\" --keyversion=\"$KEY_VERSION\"
",
        )
        .env("IMAGE", "${{ matrix.image }}")
        .env("DIGEST", digest.clone())
        .env("ATTESTOR", b.attestor.clone())
        .env("KEY_VERSION", b.key_version.clone())
    });
    job.steps = common::steps([
        steps::action(ctx, findings, "Take the image", steps::DOWNLOAD_ARTIFACT).map(|s| {
            s.with("name", image_artifact(build))
                .with("path", "${{ runner.temp }}/image")
        }),
        steps::google_auth(ctx, findings, build, "spec.containerize", true),
        Some(login),
        Some(push),
        steps::setup_gcloud(ctx, findings),
        attest,
    ]);
    Some((crate::builders::job_id(build, "publish"), job))
}

/// The `<build>-publish-bundle` job: the build output, as a generic package of the
/// `spec.publish.registry` Artifact Registry repository.
pub fn publish_bundle(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
    build: &BuildDefinition,
    build_job: &str,
) -> Option<(String, Job)> {
    let registry = &build.publish.as_ref()?.registry;
    let Some(place) = ctx.settings.and_then(|s| s.registries.get(registry)) else {
        findings.build(
            build,
            "spec.publish.registry",
            format!("WorkflowSettings spec.registries does not say where ArtifactRegistry '{registry}' is (projects/P/locations/L/repositories/R)"),
        );
        return None;
    };
    let mut job = Job::new(
        format!("Publish the bundle ({})", build.name),
        ctx.runner(),
        15,
    );
    job.needs = with_initialize(vec!["tag".into(), build_job.to_string()]);
    job.condition = Some(NOT_SKIPPED.into());
    job.permissions =
        Permissions::none().with(Scope::IdToken, Level::Write, "Workload Identity Federation");
    job.steps = common::steps([
        common::download_output(ctx, findings, build, "dist"),
        steps::google_auth(ctx, findings, build, "spec.publish", false),
        steps::setup_gcloud(ctx, findings),
        Some(
            Step::run(
                "Upload the bundle",
                "\
IFS=/ read -r _ project _ location _ repository <<< \"$REGISTRY\"
tar -C \"$RUNNER_TEMP/dist\" -czf \"$RUNNER_TEMP/$PACKAGE.tar.gz\" .
gcloud artifacts generic upload --project=\"$project\" --location=\"$location\" \\
  --repository=\"$repository\" --package=\"$PACKAGE\" --version=\"$VERSION\" \\
  --source=\"$RUNNER_TEMP/$PACKAGE.tar.gz\"
",
            )
            .env("REGISTRY", place.clone())
            .env("PACKAGE", build.name.clone())
            .env("VERSION", "${{ needs.initialize.outputs.target_version }}"),
        ),
    ]);
    Some((crate::builders::job_id(build, "publish-bundle"), job))
}
