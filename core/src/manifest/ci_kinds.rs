//! The kinds that describe how source becomes images: repositories, their GitHub owner, build
//! definitions and the settings CI workflows are generated with.

use std::collections::BTreeMap;

use serde::Serialize;

use super::kinds::Origin;

/// Declares a closed set of manifest spellings: `as_str`, `ALL` and `parse`.
macro_rules! spelled {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The manifest spelling.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value spelled `text` exactly, if any.
            #[must_use]
            pub fn parse(text: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }

            /// The known spellings, comma-separated, for messages.
            #[must_use]
            pub fn known() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled!(
    /// `GithubRepository.spec.strategy`: how branches map to release types.
    BranchStrategy {
        /// `main` releases; feature branches build without a version.
        GithubFlow => "GITHUB_FLOW",
        /// `main`, `develop`, `release/*/*`, `hotfix/*`.
        GitFlow => "GIT_FLOW",
        /// `main` releases; `release/*/*` branches take hotfixes.
        TrunkBased => "TRUNK_BASED",
    }
);

spelled!(
    /// `BuildDefinition.spec.type`: which toolchain builds the source.
    BuildType {
        /// A Go module: vet, `go test -race`, a static binary.
        Golang => "GOLANG",
        /// A React (Node.js) application: `npm ci`, test, a static bundle served by nginx.
        React => "REACT",
        /// The repository's own Dockerfile, nothing else.
        Docker => "DOCKER",
        /// A Cargo project: fmt, clippy, test, a release binary.
        Rust => "RUST",
    }
);

spelled!(
    /// One entry of `BuildDefinition.spec.stages`.
    BuildStage {
        /// Static checks (vet, lint, fmt).
        Analysis => "analysis",
        /// Tests.
        Test => "test",
        /// Compile and package the artifact.
        Build => "build",
        /// Upload the artifact to `spec.publish.registry`.
        Publish => "publish",
        /// Build the container image and push it to `spec.containerize.registries`.
        Containerize => "containerize",
    }
);

impl BuildType {
    /// The `spec` section that holds this type's own options (`spec.golang`, ...).
    #[must_use]
    pub fn section(self) -> &'static str {
        match self {
            BuildType::Golang => "golang",
            BuildType::React => "react",
            BuildType::Docker => "docker",
            BuildType::Rust => "rust",
        }
    }
}

/// `spec.containerize` of a BuildDefinition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Containerize {
    /// The image name (`containerize.name`).
    pub name: String,
    /// Target platforms (`containerize.platforms`), e.g. `linux/amd64`; empty means
    /// `linux/amd64`.
    pub platforms: Vec<String>,
    /// ArtifactRegistry names the image is pushed to.
    pub registries: Vec<String>,
    /// `containerize.buildArgs`: build arguments passed to the image build.
    pub build_args: BTreeMap<String, String>,
}

impl Containerize {
    /// The platforms to build, `linux/amd64` when none are written.
    #[must_use]
    pub fn platforms(&self) -> Vec<&str> {
        if self.platforms.is_empty() {
            vec!["linux/amd64"]
        } else {
            self.platforms.iter().map(String::as_str).collect()
        }
    }
}

/// `spec.publish` of a BuildDefinition: where the built artifact (not an image) goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Publish {
    /// An ArtifactRegistry name.
    pub registry: String,
}

/// `BuildDefinition`: how CI builds an application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.github-repository`.
    pub github_repository: String,
    /// `spec.type`; `None` only when it was missing or unknown (a reported problem).
    pub build_type: Option<BuildType>,
    /// `spec.stages`, in the order written.
    pub stages: Vec<BuildStage>,
    /// `spec.workDir`: the directory of the source within the repository (default: its root).
    pub work_dir: Option<String>,
    /// `spec.privateRepositories`: GithubRepositories of the same owner the build reads
    /// (private modules, base images), through a short-lived token from the Token Broker.
    pub private_repositories: Vec<String>,
    /// The type's own options: the scalars of `spec.<section>` (`spec.golang.target`, ...),
    /// checked by the workflow builder of the type.
    pub options: BTreeMap<String, String>,
    /// `spec.publish`, when the build publishes an artifact.
    pub publish: Option<Publish>,
    /// `spec.containerize`, when the build produces an image.
    pub containerize: Option<Containerize>,
    /// Where it was declared.
    pub origin: Origin,
}

impl BuildDefinition {
    /// Whether `stage` is listed in `spec.stages`.
    #[must_use]
    pub fn has_stage(&self, stage: BuildStage) -> bool {
        self.stages.contains(&stage)
    }
}

/// One entry of `GithubRepository.spec.codeOwners`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeOwners {
    /// A CODEOWNERS path pattern, e.g. `*` or `/docs/`.
    pub path: String,
    /// OrganizationUserGroup names; each becomes the GitHub team `@<owner>/<group>`.
    pub owners: Vec<String>,
}

/// `GithubRepository`: a source repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GithubRepository {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.github-connection`.
    pub connection: Option<String>,
    /// `spec.name`: the repository's name on GitHub, when it differs from `metadata.name`.
    pub github_name: Option<String>,
    /// `spec.strategy`.
    pub strategy: Option<BranchStrategy>,
    /// `spec.codeOwners`.
    pub code_owners: Vec<CodeOwners>,
    /// Where it was declared.
    pub origin: Origin,
}

impl GithubRepository {
    /// The repository's name on GitHub.
    #[must_use]
    pub fn repository_name(&self) -> &str {
        self.github_name.as_deref().unwrap_or(&self.name)
    }
}

/// `GithubConnection`: a GitHub account (organization) that holds repositories.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GithubConnection {
    /// `metadata.name`.
    pub name: String,
    /// `spec.owner`: the organization or user on GitHub.
    pub owner: String,
    /// Where it was declared.
    pub origin: Origin,
}

/// `spec.ciTools` of WorkflowSettings: the `infrastream-ci` release binary CI jobs run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CiTools {
    /// An `https://` URL of the Linux x86-64 binary.
    pub url: String,
    /// Its SHA-256, 64 lowercase hex digits: the job refuses any other file.
    pub sha256: String,
}

/// `spec.googleCloud` of WorkflowSettings: Workload Identity Federation, no keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleCloud {
    /// `projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`.
    pub workload_identity_provider: String,
    /// The service account CI impersonates, `NAME@PROJECT.iam.gserviceaccount.com`.
    pub service_account: String,
}

/// `spec.binaryAuthorization` of WorkflowSettings: who signs the build attestation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BinaryAuthorization {
    /// `projects/PROJECT/attestors/ATTESTOR`.
    pub attestor: String,
    /// The Cloud KMS key version that signs:
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N`.
    pub key_version: String,
}

/// `WorkflowSettings`: what the generated CI workflows need to know about the tenant's cloud,
/// at most one per manifest tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSettings {
    /// `metadata.name`.
    pub name: String,
    /// `spec.ciTools`.
    pub ci_tools: Option<CiTools>,
    /// `spec.tokenBroker`: the Token Broker's URL (also the OIDC audience it expects).
    pub token_broker: Option<String>,
    /// `spec.googleCloud`.
    pub google_cloud: Option<GoogleCloud>,
    /// `spec.registries`: ArtifactRegistry name -> where it is, e.g.
    /// `europe-west1-docker.pkg.dev/PROJECT/REPOSITORY`.
    pub registries: BTreeMap<String, String>,
    /// `spec.binaryAuthorization`.
    pub binary_authorization: Option<BinaryAuthorization>,
    /// `spec.notificationsTopic`: the Pub/Sub topic of build notifications,
    /// `projects/PROJECT/topics/TOPIC`.
    pub notifications_topic: Option<String>,
    /// `spec.runner`: the GitHub-hosted runner image (default `ubuntu-24.04`).
    pub runner: Option<String>,
    /// Where it was declared.
    pub origin: Origin,
}
