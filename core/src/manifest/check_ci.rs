//! Checks of the CI kinds: references between repositories, builds, registries, groups and the
//! workflow settings, and the grammar of every value that ends up in a generated workflow.
//!
//! Values written into workflows are held to narrow grammars here, so a manifest can never
//! smuggle an expression (`${{ ... }}`), a newline or a quote into CI.

use super::catalog::Catalog;
use super::check::Reporter;
use super::ci_kinds::{BuildStage, WorkflowSettings};
use super::grammar::{
    is_https_url, is_inert, is_name, is_platform, is_registry_path, is_relative_path, matches_path,
};

impl Catalog {
    pub(super) fn check_ci(&self, r: &mut Reporter<'_>) {
        self.check_builds(r);
        self.check_repositories(r);
        self.check_workflow_settings(r);
    }

    fn check_builds(&self, r: &mut Reporter<'_>) {
        for build in self.build_definitions.values() {
            let at = |r: &mut Reporter<'_>, field: String, message: String| {
                r.at(
                    &build.origin,
                    "BuildDefinition",
                    &build.name,
                    field,
                    message,
                );
            };
            if !is_name(&build.name) {
                at(
                    r,
                    "metadata.name".into(),
                    format!(
                        "'{}' is not a name CI can use: lowercase letters, digits and single '-', '.' or '_' inside",
                        build.name
                    ),
                );
            }
            if !build.github_repository.is_empty()
                && !self
                    .github_repositories
                    .contains_key(&build.github_repository)
            {
                at(
                    r,
                    "metadata.github-repository".into(),
                    format!("no GithubRepository named '{}'", build.github_repository),
                );
            }
            if let Some(dir) = &build.work_dir
                && !is_relative_path(dir)
            {
                at(
                    r,
                    "spec.workDir".into(),
                    format!("'{dir}' is not a relative path inside the repository"),
                );
            }
            for (key, value) in &build.options {
                if !is_inert(value) {
                    let section = build.build_type.map_or("", |t| t.section());
                    at(
                        r,
                        format!("spec.{section}.{key}"),
                        format!(
                            "'{value}' holds a character CI will not pass on (quotes, '$', '#', braces, spaces or a backslash)"
                        ),
                    );
                }
            }
            for (i, repo) in build.private_repositories.iter().enumerate() {
                if !self.github_repositories.contains_key(repo) {
                    at(
                        r,
                        format!("spec.privateRepositories[{i}]"),
                        format!("no GithubRepository named '{repo}'"),
                    );
                }
            }
            if build.has_stage(BuildStage::Containerize) && build.containerize.is_none() {
                at(
                    r,
                    "spec.containerize".into(),
                    "is missing: spec.stages lists 'containerize'".into(),
                );
            }
            match &build.publish {
                None if build.has_stage(BuildStage::Publish) => at(
                    r,
                    "spec.publish".into(),
                    "is missing: spec.stages lists 'publish'".into(),
                ),
                Some(p)
                    if !p.registry.is_empty()
                        && !self.artifact_registries.contains_key(&p.registry) =>
                {
                    at(
                        r,
                        "spec.publish.registry".into(),
                        format!("no ArtifactRegistry named '{}'", p.registry),
                    );
                }
                _ => {}
            }
            let Some(c) = &build.containerize else {
                continue;
            };
            if !c.name.is_empty() && !is_name(&c.name) {
                at(
                    r,
                    "spec.containerize.name".into(),
                    format!(
                        "'{}' is not a valid image name: lowercase letters, digits and single '-', '.' or '_' inside",
                        c.name
                    ),
                );
            }
            for (i, platform) in c.platforms.iter().enumerate() {
                if !is_platform(platform) {
                    at(
                        r,
                        format!("spec.containerize.platforms[{i}]"),
                        format!(
                            "'{platform}' is not a platform such as linux/amd64 or linux/arm/v7"
                        ),
                    );
                }
            }
            for (i, reg) in c.registries.iter().enumerate() {
                if !self.artifact_registries.contains_key(reg) {
                    at(
                        r,
                        format!("spec.containerize.registries[{i}]"),
                        format!("no ArtifactRegistry named '{reg}'"),
                    );
                }
            }
            for (key, value) in &c.build_args {
                let key_ok = !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !key.starts_with(|ch: char| ch.is_ascii_digit());
                if !key_ok {
                    at(
                        r,
                        format!("spec.containerize.buildArgs.{key}"),
                        "a build argument's name is letters, digits and '_', not starting with a digit".into(),
                    );
                } else if !is_inert(value) {
                    at(
                        r,
                        format!("spec.containerize.buildArgs.{key}"),
                        format!(
                            "'{value}' holds a character CI will not pass on (quotes, '$', '#', braces, spaces or a backslash)"
                        ),
                    );
                }
            }
        }
    }

    fn check_repositories(&self, r: &mut Reporter<'_>) {
        for repo in self.github_repositories.values() {
            let at = |r: &mut Reporter<'_>, field: String, message: String| {
                r.at(&repo.origin, "GithubRepository", &repo.name, field, message);
            };
            let github_name = repo.repository_name();
            let name_ok = !github_name.is_empty()
                && github_name.len() <= 100
                && github_name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-._".contains(&c))
                && github_name != "."
                && github_name != "..";
            if !name_ok {
                let field = if repo.github_name.is_some() {
                    "spec.name"
                } else {
                    "metadata.name"
                };
                at(
                    r,
                    field.into(),
                    format!(
                        "'{github_name}' is not a GitHub repository name (letters, digits, '-', '.', '_')"
                    ),
                );
            }
            if let Some(connection) = &repo.connection
                && !self.github_connections.contains_key(connection)
            {
                at(
                    r,
                    "metadata.github-connection".into(),
                    format!("no GithubConnection named '{connection}'"),
                );
            }
            for (i, entry) in repo.code_owners.iter().enumerate() {
                if !is_inert(&entry.path) {
                    at(
                        r,
                        format!("spec.codeOwners[{i}].path"),
                        format!(
                            "'{}' is not a CODEOWNERS pattern this engine writes (no spaces, quotes, '#' or '$')",
                            entry.path
                        ),
                    );
                }
                for (j, group) in entry.owners.iter().enumerate() {
                    if !self.groups.contains_key(group) {
                        at(
                            r,
                            format!("spec.codeOwners[{i}].owners[{j}]"),
                            format!("no OrganizationUserGroup named '{group}'"),
                        );
                    }
                }
            }
        }
        for connection in self.github_connections.values() {
            let owner = &connection.owner;
            let ok = !owner.is_empty()
                && owner.len() <= 39
                && owner
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && !owner.starts_with('-');
            if !owner.is_empty() && !ok {
                r.at(
                    &connection.origin,
                    "GithubConnection",
                    &connection.name,
                    "spec.owner".into(),
                    format!("'{owner}' is not a GitHub account name (letters, digits and '-')"),
                );
            }
        }
    }

    fn check_workflow_settings(&self, r: &mut Reporter<'_>) {
        let mut all = self.workflow_settings.values();
        if let (Some(first), Some(second)) = (all.next(), all.next()) {
            r.at(
                &second.origin,
                "WorkflowSettings",
                &second.name,
                "metadata.name".into(),
                format!(
                    "a manifest tree has at most one WorkflowSettings; '{}' is declared at {}:{}",
                    first.name, first.origin.file, first.origin.line
                ),
            );
        }
        for s in self.workflow_settings.values() {
            self.check_settings(r, s);
        }
    }

    fn check_settings(&self, r: &mut Reporter<'_>, s: &WorkflowSettings) {
        let mut at = |field: &str, message: String| {
            r.at(
                &s.origin,
                "WorkflowSettings",
                &s.name,
                field.into(),
                message,
            );
        };
        if let Some(tools) = &s.ci_tools {
            if !tools.url.is_empty() && !is_https_url(&tools.url) {
                at(
                    "spec.ciTools.url",
                    format!("'{}' is not an https:// URL", tools.url),
                );
            }
            let hex = tools.sha256.len() == 64
                && tools
                    .sha256
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
            if !tools.sha256.is_empty() && !hex {
                at(
                    "spec.ciTools.sha256",
                    "expected 64 lowercase hex digits".into(),
                );
            }
        }
        if let Some(url) = &s.token_broker
            && !is_https_url(url)
        {
            at(
                "spec.tokenBroker",
                format!("'{url}' is not an https:// URL"),
            );
        }
        if let Some(g) = &s.google_cloud {
            let provider = [
                "projects",
                "*",
                "locations",
                "global",
                "workloadIdentityPools",
                "*",
                "providers",
                "*",
            ];
            if !g.workload_identity_provider.is_empty()
                && !matches_path(&g.workload_identity_provider, &provider)
            {
                at(
                    "spec.googleCloud.workloadIdentityProvider",
                    format!(
                        "'{}' is not projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
                        g.workload_identity_provider
                    ),
                );
            }
            let account_ok = g
                .service_account
                .split_once('@')
                .is_some_and(|(user, domain)| {
                    is_name(user) && domain.ends_with(".gserviceaccount.com") && is_inert(domain)
                });
            if !g.service_account.is_empty() && !account_ok {
                at(
                    "spec.googleCloud.serviceAccount",
                    format!(
                        "'{}' is not a service account email (NAME@PROJECT.iam.gserviceaccount.com)",
                        g.service_account
                    ),
                );
            }
        }
        if let Some(b) = &s.binary_authorization {
            if !b.attestor.is_empty()
                && !matches_path(&b.attestor, &["projects", "*", "attestors", "*"])
            {
                at(
                    "spec.binaryAuthorization.attestor",
                    format!(
                        "'{}' is not projects/PROJECT/attestors/ATTESTOR",
                        b.attestor
                    ),
                );
            }
            let key = [
                "projects",
                "*",
                "locations",
                "*",
                "keyRings",
                "*",
                "cryptoKeys",
                "*",
                "cryptoKeyVersions",
                "*",
            ];
            if !b.key_version.is_empty() && !matches_path(&b.key_version, &key) {
                at(
                    "spec.binaryAuthorization.keyVersion",
                    format!(
                        "'{}' is not projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N",
                        b.key_version
                    ),
                );
            }
        }
        if let Some(topic) = &s.notifications_topic
            && !matches_path(topic, &["projects", "*", "topics", "*"])
        {
            at(
                "spec.notificationsTopic",
                format!("'{topic}' is not projects/PROJECT/topics/TOPIC"),
            );
        }
        if let Some(runner) = &s.runner
            && !is_name(runner)
        {
            at(
                "spec.runner",
                format!("'{runner}' is not a runner label such as ubuntu-24.04"),
            );
        }
        for (name, place) in &s.registries {
            let field = format!("spec.registries.{name}");
            match self.artifact_registries.get(name) {
                None => at(&field, format!("no ArtifactRegistry named '{name}'")),
                Some(r) if r.registry_type.as_deref() == Some("DOCKER") => {
                    if !is_registry_path(place) {
                        at(
                            &field,
                            format!(
                                "'{place}' is not where a DOCKER registry is: HOST/PROJECT/REPOSITORY, e.g. europe-west1-docker.pkg.dev/my-project/containers"
                            ),
                        );
                    }
                }
                Some(_) => {
                    let words = ["projects", "*", "locations", "*", "repositories", "*"];
                    if !matches_path(place, &words) {
                        at(
                            &field,
                            format!(
                                "'{place}' is not an Artifact Registry repository: projects/PROJECT/locations/LOCATION/repositories/REPOSITORY"
                            ),
                        );
                    }
                }
            }
        }
    }
}
