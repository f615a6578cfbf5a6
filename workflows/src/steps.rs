//! Steps shared by every build type: checkout, the CI tools, the Token Broker, Google Cloud.
//!
//! Scripts never hold a `${{ ... }}` expression: every value from the event, a previous step or
//! the manifests reaches a script through `env:`, so nothing a pull request controls is ever
//! parsed as shell.

use cd_core::manifest::{BuildDefinition, CiTools, GoogleCloud};

use crate::context::{Ctx, Findings};
use crate::model::{Input, Step};

/// The actions the generator uses: the pin table must hold each.
pub const CHECKOUT: &str = "actions/checkout";
/// Artifacts between jobs.
pub const UPLOAD_ARTIFACT: &str = "actions/upload-artifact";
/// Artifacts between jobs.
pub const DOWNLOAD_ARTIFACT: &str = "actions/download-artifact";
/// Go.
pub const SETUP_GO: &str = "actions/setup-go";
/// Node.js.
pub const SETUP_NODE: &str = "actions/setup-node";
/// Emulation for foreign platforms in a Dockerfile's RUN steps.
pub const SETUP_QEMU: &str = "docker/setup-qemu-action";
/// BuildKit.
pub const SETUP_BUILDX: &str = "docker/setup-buildx-action";
/// Workload Identity Federation.
pub const GCP_AUTH: &str = "google-github-actions/auth";
/// The gcloud CLI.
pub const SETUP_GCLOUD: &str = "google-github-actions/setup-gcloud";

/// Where the CI tools binary is installed on the runner.
pub const CI_TOOLS: &str = "$RUNNER_TEMP/infrastream-ci";

/// How much of the repository a job checks out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Full history and tags: versions and changelogs need them.
    Full,
    /// The commit alone.
    Commit,
}

/// An action step, or a problem when the pin table lacks the action.
pub fn action(ctx: &Ctx<'_>, findings: &mut Findings, name: &str, action: &str) -> Option<Step> {
    match ctx.pins.action(action) {
        Ok(uses) => Some(Step::uses(name, uses)),
        Err(e) => {
            if !findings.pins.contains(&e) {
                findings.pins.push(e);
            }
            None
        }
    }
}

/// Checks out the commit without leaving the token in `.git/config`: later steps (and the
/// code under test) cannot push with it.
pub fn checkout(ctx: &Ctx<'_>, findings: &mut Findings, depth: Depth) -> Option<Step> {
    let step = action(ctx, findings, "Check out", CHECKOUT)?.with("persist-credentials", false);
    Some(match depth {
        Depth::Full => step
            .with("fetch-depth", Input::Number(0))
            .with("fetch-tags", true),
        Depth::Commit => step,
    })
}

/// The CI tools' release binary, or a problem naming what is missing.
pub fn ci_tools<'a>(ctx: &Ctx<'a>, findings: &mut Findings) -> Option<&'a CiTools> {
    let tools = ctx.settings.and_then(|s| s.ci_tools.as_ref());
    if tools.is_none() {
        findings.repository(
            ctx.repo,
            "metadata.name",
            "generating its workflows needs a WorkflowSettings with spec.ciTools (the infrastream-ci release binary and its sha256)".into(),
        );
    }
    tools
}

/// Downloads `infrastream-ci` and refuses it unless its SHA-256 is the pinned one.
pub fn install_ci_tools(ctx: &Ctx<'_>, findings: &mut Findings) -> Option<Step> {
    let tools = ci_tools(ctx, findings)?;
    Some(
        Step::run(
            "Install infrastream-ci (sha256-verified)",
            "\
curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 --retry 3 \\
  --output \"$RUNNER_TEMP/infrastream-ci\" \"$CI_TOOLS_URL\"
echo \"$CI_TOOLS_SHA256  $RUNNER_TEMP/infrastream-ci\" | sha256sum --check --strict
chmod 0755 \"$RUNNER_TEMP/infrastream-ci\"
",
        )
        .env("CI_TOOLS_URL", tools.url.clone())
        .env("CI_TOOLS_SHA256", tools.sha256.clone()),
    )
}

/// The Token Broker's URL, or a problem.
pub fn token_broker<'a>(
    ctx: &Ctx<'a>,
    findings: &mut Findings,
    build: &BuildDefinition,
) -> Option<&'a str> {
    let url = ctx.settings.and_then(|s| s.token_broker.as_deref());
    if url.is_none() {
        findings.build(
            build,
            "spec.privateRepositories",
            "reading private repositories needs a WorkflowSettings with spec.tokenBroker".into(),
        );
    }
    url
}

/// The GitHub names of the build's private repositories, comma-separated.
pub fn private_repositories(
    catalog: &cd_core::manifest::Catalog,
    build: &BuildDefinition,
) -> String {
    build
        .private_repositories
        .iter()
        .map(|r| {
            catalog
                .github_repositories
                .get(r)
                .map_or(r.as_str(), |g| g.repository_name())
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The steps that fetch the build's dependencies with a read-only token from the Token Broker,
/// scoped to exactly the private repositories: git is given the token for `fetch` alone (as
/// https, `ssh://` and scp-style GitHub URLs of the owner), and it is removed when the step ends.
pub fn fetch_with_token(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
    build: &BuildDefinition,
    repositories: &str,
    fetch: &str,
) -> Vec<Step> {
    let (Some(broker), Some(install)) = (
        token_broker(ctx, findings, build),
        install_ci_tools(ctx, findings),
    ) else {
        return Vec::new();
    };
    let token = Step::run(
        "Token for the private repositories (Token Broker)",
        format!(
            "\"{CI_TOOLS}\" token --broker \"$TOKEN_BROKER\" --repositories \"$REPOSITORIES\" --permissions contents:read\n"
        ),
    )
    .id("broker")
    .env("TOKEN_BROKER", broker)
    .env("REPOSITORIES", repositories);
    let script = format!(
        "\
owner=\"$GITHUB_REPOSITORY_OWNER\"
key=\"url.https://x-access-token:${{BROKER_TOKEN}}@github.com/${{owner}}/.insteadOf\"
trap 'git config --global --unset-all \"$key\"' EXIT
git config --global --add \"$key\" \"https://github.com/${{owner}}/\"
git config --global --add \"$key\" \"ssh://git@github.com/${{owner}}/\"
git config --global --add \"$key\" \"git@github.com:${{owner}}/\"
{fetch}
",
        fetch = fetch.trim_end()
    );
    let fetch_step = Step::run(
        "Fetch the dependencies with the token, then drop it",
        script,
    )
    .env("BROKER_TOKEN", "${{ steps.broker.outputs.token }}")
    .in_dir(build.work_dir.as_deref());
    vec![install, token, fetch_step]
}

/// Workload Identity Federation: a short-lived Google credential for this job, no key.
pub fn google_auth(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
    build: &BuildDefinition,
    field: &str,
    access_token: bool,
) -> Option<Step> {
    let Some(GoogleCloud {
        workload_identity_provider,
        service_account,
    }) = ctx.settings.and_then(|s| s.google_cloud.as_ref())
    else {
        findings.build(
            build,
            field,
            "publishing needs a WorkflowSettings with spec.googleCloud (Workload Identity Federation)".into(),
        );
        return None;
    };
    let step = action(
        ctx,
        findings,
        "Authenticate to Google Cloud (Workload Identity Federation)",
        GCP_AUTH,
    )?
    .id("gcp")
    .with(
        "workload_identity_provider",
        workload_identity_provider.as_str(),
    )
    .with("service_account", service_account.as_str());
    Some(if access_token {
        step.with("token_format", "access_token")
    } else {
        step
    })
}

/// The gcloud CLI, as installed on the runner.
pub fn setup_gcloud(ctx: &Ctx<'_>, findings: &mut Findings) -> Option<Step> {
    Some(action(ctx, findings, "Set up gcloud", SETUP_GCLOUD)?.with("skip_install", true))
}
