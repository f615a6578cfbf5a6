//! Reading the CI kinds: BuildDefinition, GithubRepository, GithubConnection and
//! WorkflowSettings.

use std::collections::BTreeMap;

use super::ci_kinds::{
    BinaryAuthorization, BranchStrategy, BuildDefinition, BuildStage, BuildType, CiTools,
    CodeOwners, Containerize, GithubConnection, GithubRepository, GoogleCloud, Publish,
    WorkflowSettings,
};
use super::kinds::Origin;
use super::read::{Reader, join};
use crate::yaml::NodeId;

impl Reader<'_> {
    /// A closed-set string field: an unknown spelling is reported with the known ones.
    fn spelled<T: Copy>(
        &mut self,
        parent: Option<NodeId>,
        path: &str,
        key: &str,
        required: bool,
        parse: fn(&str) -> Option<T>,
        known: fn() -> String,
    ) -> Option<T> {
        let value = self.string(parent, path, key, required)?;
        let found = parse(&value);
        if found.is_none() {
            let node = parent.and_then(|p| self.doc.get(p, key));
            self.report(
                join(path, key),
                node,
                format!("'{value}' is not one of {}", known()),
            );
        }
        found
    }

    /// A mapping of strings to strings; other values are reported.
    pub(super) fn string_map(
        &mut self,
        parent: Option<NodeId>,
        path: &str,
        key: &str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(map) = self.map(parent, path, key, false) else {
            return out;
        };
        let field = join(path, key);
        let entries = self.doc.entries(map).map(<[_]>::to_vec).unwrap_or_default();
        for (k, v) in entries {
            let name = self.doc.scalar(k).unwrap_or_default().to_string();
            match self.doc.scalar(v) {
                Some(value) => {
                    out.insert(name, value.to_string());
                }
                None => {
                    let shape = self.shape(v);
                    self.report(
                        join(&field, &name),
                        Some(v),
                        format!("expected a string, found {shape}"),
                    );
                }
            }
        }
        out
    }

    pub(super) fn build_definition(
        &mut self,
        name: String,
        metadata: Option<NodeId>,
        spec: Option<NodeId>,
        origin: Origin,
    ) -> BuildDefinition {
        let github_repository = self
            .string(metadata, "metadata", "github-repository", true)
            .unwrap_or_default();
        let build_type = self.spelled(
            spec,
            "spec",
            "type",
            true,
            BuildType::parse,
            BuildType::known,
        );
        let mut stages = Vec::new();
        let items = self.list(spec, "spec", "stages");
        for (i, id) in items.into_iter().enumerate() {
            let field = format!("spec.stages[{i}]");
            match self.doc.scalar(id).map(|s| (s, BuildStage::parse(s))) {
                Some((_, Some(stage))) if stages.contains(&stage) => {
                    self.report(field, Some(id), format!("'{stage}' is listed twice"));
                }
                Some((_, Some(stage))) => stages.push(stage),
                Some((text, None)) => {
                    let message = format!("'{text}' is not one of {}", BuildStage::known());
                    self.report(field, Some(id), message);
                }
                None => {
                    let shape = self.shape(id);
                    self.report(field, Some(id), format!("expected a string, found {shape}"));
                }
            }
        }
        let options = match build_type {
            Some(t) => self.string_map(spec, "spec", t.section()),
            None => BTreeMap::new(),
        };
        let publish = self.map(spec, "spec", "publish", false).map(|p| Publish {
            registry: self
                .string(Some(p), "spec.publish", "registry", true)
                .unwrap_or_default(),
        });
        let containerize = self.map(spec, "spec", "containerize", false).map(|c| {
            let c = Some(c);
            Containerize {
                name: self
                    .string(c, "spec.containerize", "name", true)
                    .unwrap_or_default(),
                platforms: self.strings(c, "spec.containerize", "platforms"),
                registries: self.strings(c, "spec.containerize", "registries"),
                build_args: self.string_map(c, "spec.containerize", "buildArgs"),
            }
        });
        BuildDefinition {
            name,
            github_repository,
            build_type,
            stages,
            work_dir: self.string(spec, "spec", "workDir", false),
            private_repositories: self.strings(spec, "spec", "privateRepositories"),
            options,
            publish,
            containerize,
            origin,
        }
    }

    pub(super) fn github_repository(
        &mut self,
        name: String,
        metadata: Option<NodeId>,
        spec: Option<NodeId>,
        origin: Origin,
    ) -> GithubRepository {
        let mut code_owners = Vec::new();
        for (i, id) in self
            .list(spec, "spec", "codeOwners")
            .into_iter()
            .enumerate()
        {
            let path = format!("spec.codeOwners[{i}]");
            let pattern = self.string(Some(id), &path, "path", true);
            let owners = self.strings(Some(id), &path, "owners");
            if owners.is_empty() {
                self.report(
                    join(&path, "owners"),
                    Some(id),
                    "a code owners entry needs at least one group".into(),
                );
            }
            if let Some(pattern) = pattern {
                code_owners.push(CodeOwners {
                    path: pattern,
                    owners,
                });
            }
        }
        GithubRepository {
            connection: self.string(metadata, "metadata", "github-connection", false),
            github_name: self.string(spec, "spec", "name", false),
            strategy: self.spelled(
                spec,
                "spec",
                "strategy",
                false,
                BranchStrategy::parse,
                BranchStrategy::known,
            ),
            code_owners,
            name,
            origin,
        }
    }

    pub(super) fn github_connection(
        &mut self,
        name: String,
        spec: Option<NodeId>,
        origin: Origin,
    ) -> GithubConnection {
        GithubConnection {
            owner: self.string(spec, "spec", "owner", true).unwrap_or_default(),
            name,
            origin,
        }
    }

    pub(super) fn workflow_settings(
        &mut self,
        name: String,
        spec: Option<NodeId>,
        origin: Origin,
    ) -> WorkflowSettings {
        let ci_tools = self.map(spec, "spec", "ciTools", false).map(|t| CiTools {
            url: self
                .string(Some(t), "spec.ciTools", "url", true)
                .unwrap_or_default(),
            sha256: self
                .string(Some(t), "spec.ciTools", "sha256", true)
                .unwrap_or_default(),
        });
        let google_cloud = self
            .map(spec, "spec", "googleCloud", false)
            .map(|g| GoogleCloud {
                workload_identity_provider: self
                    .string(
                        Some(g),
                        "spec.googleCloud",
                        "workloadIdentityProvider",
                        true,
                    )
                    .unwrap_or_default(),
                service_account: self
                    .string(Some(g), "spec.googleCloud", "serviceAccount", true)
                    .unwrap_or_default(),
            });
        let binary_authorization = self
            .map(spec, "spec", "binaryAuthorization", false)
            .map(|b| BinaryAuthorization {
                attestor: self
                    .string(Some(b), "spec.binaryAuthorization", "attestor", true)
                    .unwrap_or_default(),
                key_version: self
                    .string(Some(b), "spec.binaryAuthorization", "keyVersion", true)
                    .unwrap_or_default(),
            });
        WorkflowSettings {
            name,
            ci_tools,
            token_broker: self.string(spec, "spec", "tokenBroker", false),
            google_cloud,
            registries: self.string_map(spec, "spec", "registries"),
            binary_authorization,
            notifications_topic: self.string(spec, "spec", "notificationsTopic", false),
            runner: self.string(spec, "spec", "runner", false),
            origin,
        }
    }
}
