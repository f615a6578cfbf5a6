//! The smallest tenant a pipeline runs on, for examples and a host's first tests.

/// One application, `api` of the ApplicationSet `shop`, built by CI (BuildDefinition `api`,
/// image `api` in the registry `containers`) and deployed to one environment, `development`,
/// by its pre-release stage. Its DeploymentConfig is `api/development.yaml`, at `v0.9.0`.
#[must_use]
pub fn minimal_tenant() -> Vec<(String, String)> {
    let tenant = "apiVersion: lowops.manifests.v1
kind: ReleaseTrack
metadata: {name: main}
spec:
  preReleaseStages: [{environments: [development]}]
---
apiVersion: lowops.manifests.v1
kind: Environment
metadata: {name: development}
---
apiVersion: lowops.manifests.v1
kind: ApplicationSet
metadata: {name: shop, release-track: main}
---
apiVersion: lowops.manifests.v1
kind: Application
metadata: {name: api, application-set: shop}
spec: {buildDefinition: api}
---
apiVersion: lowops.manifests.v1
kind: GithubRepository
metadata: {name: api}
---
apiVersion: lowops.manifests.v1
kind: ArtifactRegistry
metadata: {name: containers}
---
apiVersion: lowops.manifests.v1
kind: BuildDefinition
metadata: {name: api, github-repository: api}
spec:
  type: GOLANG
  stages: [build, containerize]
  containerize: {name: api, registries: [containers]}
";
    let deployment = "apiVersion: lowops.manifests.v1
kind: DeploymentConfig
metadata: {name: api, environment: development}
spec:
  version: v0.9.0
";
    vec![
        ("tenant.yaml".into(), tenant.into()),
        ("api/development.yaml".into(), deployment.into()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_minimal_tenant_is_valid() {
        let catalog = cd_core::manifest::Catalog::load_valid(super::minimal_tenant());
        assert!(catalog.is_ok(), "{catalog:?}");
    }
}
