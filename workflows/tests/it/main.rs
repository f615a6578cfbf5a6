//! cd-workflows against the example tenant and a tenant of every strategy × build type:
//! the outside judges (zizmor, actionlint, check-jsonschema), golden files, hardening rules
//! read off the YAML, the generated scripts run in bash, and properties of the strategies.

// The tests read and write files and run the judges: the crate itself does no I/O.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod golden;
mod hardening;
mod judges;
mod properties;
mod scripts;

use std::path::{Path, PathBuf};

use cd_core::manifest::{BranchStrategy, BuildType, Catalog};
use cd_workflows::Files;
use cd_workflows::pins::Pins;

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `*.yaml` under `dir`, as (relative path, text).
pub(crate) fn read_tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The example tenant's catalog.
pub(crate) fn example_catalog() -> Catalog {
    Catalog::load_valid(read_tree(&root().join("examples/manifests"))).unwrap()
}

/// Generates with the shipped pin table.
pub(crate) fn generate(catalog: &Catalog) -> Files {
    cd_workflows::generate(catalog, &Pins::default_table().unwrap()).unwrap()
}

/// A repository name per strategy and type: `trunk-based-golang`.
pub(crate) fn matrix_name(strategy: BranchStrategy, build_type: BuildType) -> String {
    format!(
        "{}-{}",
        strategy.as_str().to_ascii_lowercase().replace('_', "-"),
        build_type.as_str().to_ascii_lowercase()
    )
}

/// The options, stages and image settings a build of `build_type` exercises.
fn build_spec(build_type: BuildType, name: &str) -> String {
    match build_type {
        BuildType::Golang => format!(
            "  type: GOLANG
  workDir: services/{name}
  stages: [analysis, test, build, publish, containerize]
  golang:
    target: ./cmd/server
  privateRepositories: [libs]
  publish:
    registry: bundles
  containerize:
    name: {name}
    platforms: [linux/amd64, linux/arm64, linux/arm/v7]
    registries: [containers, mirror]
    buildArgs:
      SERVICE: {name}
"
        ),
        BuildType::React => format!(
            "  type: REACT
  stages: [analysis, test, build, publish, containerize]
  react:
    outputDir: build
  privateRepositories: [libs]
  publish:
    registry: bundles
  containerize:
    name: {name}
    platforms: [linux/amd64, linux/arm64]
    registries: [containers]
"
        ),
        BuildType::Docker => format!(
            "  type: DOCKER
  stages: [build, containerize]
  docker:
    file: deploy/Dockerfile
    target: runtime
  containerize:
    name: {name}
    platforms: [linux/amd64, linux/arm64]
    registries: [containers, mirror]
"
        ),
        BuildType::Rust => format!(
            "  type: RUST
  stages: [analysis, test, build, publish, containerize]
  rust:
    bin: server
  privateRepositories: [libs]
  publish:
    registry: bundles
  containerize:
    name: {name}
    platforms: [linux/amd64, linux/arm64]
    registries: [containers]
"
        ),
    }
}

/// A tenant with one repository per strategy × build type, a monorepo holding two builds,
/// and the settings every job needs.
pub(crate) fn matrix_files() -> Vec<(String, String)> {
    let mut files = vec![(
        "organization.yaml".to_string(),
        "apiVersion: lowops.manifests.v1
kind: GithubConnection
metadata:
  name: default
spec:
  owner: acme
---
apiVersion: lowops.manifests.v1
kind: ArtifactRegistry
metadata:
  name: containers
spec:
  type: DOCKER
---
apiVersion: lowops.manifests.v1
kind: ArtifactRegistry
metadata:
  name: mirror
spec:
  type: DOCKER
---
apiVersion: lowops.manifests.v1
kind: ArtifactRegistry
metadata:
  name: bundles
spec:
  type: STATIC
---
apiVersion: lowops.manifests.v1
kind: OrganizationUserGroup
metadata:
  name: platform
spec:
  members:
    users: []
---
apiVersion: lowops.manifests.v1
kind: GithubRepository
metadata:
  name: libs
  github-connection: default
spec:
  strategy: TRUNK_BASED
---
apiVersion: lowops.manifests.v1
kind: WorkflowSettings
metadata:
  name: ci
spec:
  ciTools:
    url: https://releases.acme.example/infrastream-ci/0.1.0/infrastream-ci-x86_64-linux
    sha256: 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
  tokenBroker: https://token-broker.acme.example
  googleCloud:
    workloadIdentityProvider: projects/1234/locations/global/workloadIdentityPools/ci/providers/github
    serviceAccount: ci@acme-ci.iam.gserviceaccount.com
  registries:
    containers: us-docker.pkg.dev/acme-ci/containers
    mirror: europe-docker.pkg.dev/acme-ci/mirror
    bundles: projects/acme-ci/locations/us/repositories/bundles
  binaryAuthorization:
    attestor: projects/acme-ci/attestors/ci
    keyVersion: projects/acme-ci/locations/global/keyRings/ci/cryptoKeys/attest/cryptoKeyVersions/1
  notificationsTopic: projects/acme-ci/topics/builds
"
        .to_string(),
    )];
    for strategy in BranchStrategy::ALL {
        for build_type in BuildType::ALL {
            let name = matrix_name(*strategy, *build_type);
            files.push((
                format!("{name}.yaml"),
                format!(
                    "apiVersion: lowops.manifests.v1
kind: GithubRepository
metadata:
  name: {name}
  github-connection: default
spec:
  strategy: {strategy}
  codeOwners:
    - path: \"*\"
      owners: [platform]
---
apiVersion: lowops.manifests.v1
kind: BuildDefinition
metadata:
  name: {name}
  github-repository: {name}
spec:
{}",
                    build_spec(*build_type, &name)
                ),
            ));
        }
    }
    files.push((
        "monorepo.yaml".to_string(),
        "apiVersion: lowops.manifests.v1
kind: GithubRepository
metadata:
  name: monorepo
  github-connection: default
spec:
  name: acme-monorepo
  strategy: TRUNK_BASED
---
apiVersion: lowops.manifests.v1
kind: BuildDefinition
metadata:
  name: mono.api
  github-repository: monorepo
spec:
  type: GOLANG
  workDir: api
  stages: [test, containerize]
  containerize:
    name: mono-api
    registries: [containers]
---
apiVersion: lowops.manifests.v1
kind: BuildDefinition
metadata:
  name: mono-lib
  github-repository: monorepo
spec:
  type: GOLANG
  workDir: lib
  stages: [analysis, test, build]
  golang:
    buildType: lib
"
        .to_string(),
    ));
    files
}

/// The matrix tenant's catalog.
pub(crate) fn matrix_catalog() -> Catalog {
    Catalog::load_valid(matrix_files()).unwrap()
}

/// The matrix tenant's files, generated once per test binary.
pub(crate) fn matrix_generated() -> &'static Files {
    static FILES: std::sync::OnceLock<Files> = std::sync::OnceLock::new();
    FILES.get_or_init(|| generate(&matrix_catalog()))
}

/// Parses a generated workflow.
pub(crate) fn yaml(text: &str) -> serde_json::Value {
    serde_norway::from_str(text).unwrap()
}

/// The workflow files of `files`.
pub(crate) fn workflows(files: &Files) -> impl Iterator<Item = (&String, &String)> {
    files
        .iter()
        .filter(|(p, _)| p.contains("/.github/workflows/"))
}
