//! Any bytes as a manifest file beside a tenant's GitHub owner and CI settings: generating
//! workflows must refuse or succeed, never panic, and what it writes must read back as YAML.
#![no_main]

use libfuzzer_sys::fuzz_target;

const TENANT: &str = "apiVersion: lowops.manifests.v1
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
kind: WorkflowSettings
metadata:
  name: ci
spec:
  ciTools:
    url: https://releases.acme.example/infrastream-ci
    sha256: 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
  tokenBroker: https://broker.acme.example
  googleCloud:
    workloadIdentityProvider: projects/1/locations/global/workloadIdentityPools/p/providers/g
    serviceAccount: ci@acme.iam.gserviceaccount.com
  registries:
    containers: us-docker.pkg.dev/acme/containers
  binaryAuthorization:
    attestor: projects/acme/attestors/ci
    keyVersion: projects/acme/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1
  notificationsTopic: projects/acme/topics/builds
";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = cd_core::manifest::Catalog::load([("tenant.yaml", TENANT), ("fuzz.yaml", text)]);
    let _ = cd_workflows::check(&loaded.catalog);
    let Ok(pins) = cd_workflows::pins::Pins::default_table() else {
        return;
    };
    if let Ok(files) = cd_workflows::generate(&loaded.catalog, &pins) {
        for (path, text) in &files {
            if path.ends_with(".yml") {
                assert!(text.starts_with(cd_workflows::GENERATED_MARK), "{path}");
            }
        }
    }
});
