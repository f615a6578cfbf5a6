//! The catalog: every modelled object of a manifest tree, with references resolved and checked.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ci_kinds::{BuildDefinition, GithubConnection, GithubRepository, WorkflowSettings};
use super::kinds::{
    Application, ApplicationSet, ArtifactRegistry, DeploymentConfig, Environment, OrganizationUser,
    OrganizationUserGroup, Origin, ReleaseTrack,
};
use super::read::{Object, Read, read_document};
use super::token_policy::TokenPolicy;
use super::{Problem, Problems};
use crate::yaml;

/// Every modelled object of a manifest tree, keyed by name.
///
/// Built by [`Catalog::load`] from `(path, text)` pairs; the core never reads files itself.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Catalog {
    /// ReleaseTracks by name.
    pub release_tracks: BTreeMap<String, ReleaseTrack>,
    /// ApplicationSets by name.
    pub application_sets: BTreeMap<String, ApplicationSet>,
    /// Applications and ExternalApplications by name.
    pub applications: BTreeMap<String, Application>,
    /// BuildDefinitions by name.
    pub build_definitions: BTreeMap<String, BuildDefinition>,
    /// GithubRepositories by name.
    pub github_repositories: BTreeMap<String, GithubRepository>,
    /// GithubConnections by name.
    pub github_connections: BTreeMap<String, GithubConnection>,
    /// WorkflowSettings by name (a valid tree has at most one: [`Catalog::workflow_settings`]).
    pub workflow_settings: BTreeMap<String, WorkflowSettings>,
    /// ArtifactRegistries by name.
    pub artifact_registries: BTreeMap<String, ArtifactRegistry>,
    /// DeploymentConfigs by (application, environment).
    #[serde(serialize_with = "serialize_pair_keys")]
    pub deployment_configs: BTreeMap<(String, String), DeploymentConfig>,
    /// Environments by name.
    pub environments: BTreeMap<String, Environment>,
    /// OrganizationUsers by name.
    pub users: BTreeMap<String, OrganizationUser>,
    /// OrganizationUserGroups by name.
    pub groups: BTreeMap<String, OrganizationUserGroup>,
    /// TokenPolicies by name.
    pub token_policies: BTreeMap<String, TokenPolicy>,
    /// Documents of our apiVersion whose kind we do not model, counted by kind.
    pub ignored: BTreeMap<String, usize>,
    /// YAML documents that are not manifests of ours (other tools' files, empty documents).
    pub foreign_documents: usize,
    /// Documents of another `apiVersion`, not read: each file with the apiVersion it names.
    pub other_api_versions: Vec<(String, String)>,
}

fn serialize_pair_keys<S: serde::Serializer>(
    map: &BTreeMap<(String, String), DeploymentConfig>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.values())
}

/// A catalog together with every problem found while building it.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// What could be read; complete only when `problems` is empty.
    pub catalog: Catalog,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
}

impl Catalog {
    /// Reads every document of every file, then checks every reference between objects.
    ///
    /// Files are taken in path order, so "first declared" in duplicate reports is stable. Every
    /// problem names its file, and its line and field when known:
    ///
    /// ```
    /// use cd_core::manifest::Catalog;
    ///
    /// let app = "apiVersion: lowops.manifests.v1
    /// kind: Application
    /// metadata: {name: api, application-set: shop}
    /// spec: {buildDefinition: api}
    /// ";
    /// let loaded = Catalog::load([("apps/api.yaml", app)]);
    /// // What could be read is kept; the references that lead nowhere are the problems.
    /// assert!(loaded.catalog.applications.contains_key("api"));
    /// assert!(loaded.problems.iter().all(|p| p.file == "apps/api.yaml"));
    /// assert!(loaded.problems.iter().any(|p| p.message.contains("shop")));
    /// ```
    pub fn load<P, T>(files: impl IntoIterator<Item = (P, T)>) -> Loaded
    where
        P: AsRef<str>,
        T: AsRef<str>,
    {
        let mut files: Vec<(P, T)> = files.into_iter().collect();
        files.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut catalog = Catalog::default();
        let mut problems = Vec::new();
        for (path, text) in &files {
            let path = path.as_ref();
            match yaml::parse(text.as_ref()) {
                Err(e) => problems.push(Problem {
                    file: path.to_string(),
                    line: Some(e.line),
                    kind: None,
                    name: None,
                    field: None,
                    message: format!("invalid YAML: {}", e.message),
                }),
                Ok(docs) => {
                    for doc in &docs {
                        match read_document(path, doc, &mut problems) {
                            Read::Object(object) => catalog.insert(*object, &mut problems),
                            Read::Ignored(kind) => *catalog.ignored.entry(kind).or_default() += 1,
                            Read::Foreign => catalog.foreign_documents += 1,
                            Read::OtherApi(api) => {
                                catalog.foreign_documents += 1;
                                catalog.other_api_versions.push((path.to_string(), api));
                            }
                            Read::Broken => {}
                        }
                    }
                }
            }
        }
        catalog.check(&mut problems);
        Loaded { catalog, problems }
    }

    /// Like [`Catalog::load`], but any problem makes it an error.
    ///
    /// # Errors
    /// [`Problems`] with every problem found, when there is at least one.
    pub fn load_valid<P, T>(files: impl IntoIterator<Item = (P, T)>) -> Result<Catalog, Problems>
    where
        P: AsRef<str>,
        T: AsRef<str>,
    {
        let loaded = Catalog::load(files);
        if loaded.problems.is_empty() {
            Ok(loaded.catalog)
        } else {
            Err(Problems(loaded.problems))
        }
    }

    fn insert(&mut self, object: Object, problems: &mut Vec<Problem>) {
        match object {
            Object::ReleaseTrack(o) => {
                put(
                    &mut self.release_tracks,
                    o.name.clone(),
                    o,
                    "ReleaseTrack",
                    problems,
                );
            }
            Object::ApplicationSet(o) => {
                put(
                    &mut self.application_sets,
                    o.name.clone(),
                    o,
                    "ApplicationSet",
                    problems,
                );
            }
            Object::Application(o) => {
                let kind = o.kind();
                put(&mut self.applications, o.name.clone(), o, kind, problems);
            }
            Object::BuildDefinition(o) => {
                put(
                    &mut self.build_definitions,
                    o.name.clone(),
                    o,
                    "BuildDefinition",
                    problems,
                );
            }
            Object::GithubRepository(o) => {
                let key = o.name.clone();
                put(
                    &mut self.github_repositories,
                    key,
                    o,
                    "GithubRepository",
                    problems,
                );
            }
            Object::GithubConnection(o) => {
                let key = o.name.clone();
                put(
                    &mut self.github_connections,
                    key,
                    o,
                    "GithubConnection",
                    problems,
                );
            }
            Object::WorkflowSettings(o) => {
                let key = o.name.clone();
                put(
                    &mut self.workflow_settings,
                    key,
                    o,
                    "WorkflowSettings",
                    problems,
                );
            }
            Object::ArtifactRegistry(o) => {
                let key = o.name.clone();
                put(
                    &mut self.artifact_registries,
                    key,
                    o,
                    "ArtifactRegistry",
                    problems,
                );
            }
            Object::DeploymentConfig(o) => {
                let key = (o.application.clone(), o.environment.clone());
                put(
                    &mut self.deployment_configs,
                    key,
                    o,
                    "DeploymentConfig",
                    problems,
                );
            }
            Object::Environment(o) => {
                put(
                    &mut self.environments,
                    o.name.clone(),
                    o,
                    "Environment",
                    problems,
                );
            }
            Object::OrganizationUser(o) => {
                put(
                    &mut self.users,
                    o.name.clone(),
                    o,
                    "OrganizationUser",
                    problems,
                );
            }
            Object::TokenPolicy(o) => {
                put(
                    &mut self.token_policies,
                    o.name.clone(),
                    o,
                    "TokenPolicy",
                    problems,
                );
            }
            Object::OrganizationUserGroup(o) => {
                put(
                    &mut self.groups,
                    o.name.clone(),
                    o,
                    "OrganizationUserGroup",
                    problems,
                );
            }
        }
    }
}

/// Objects that know where they were declared.
pub(crate) trait Declared {
    fn origin(&self) -> &Origin;
    fn shown_name(&self) -> String;
}

macro_rules! declared {
    ($($t:ty => |$o:ident| $name:expr),* $(,)?) => {$(
        impl Declared for $t {
            fn origin(&self) -> &Origin {
                &self.origin
            }
            fn shown_name(&self) -> String {
                let $o = self;
                $name
            }
        }
    )*};
}

declared!(
    ReleaseTrack => |o| o.name.clone(),
    ApplicationSet => |o| o.name.clone(),
    Application => |o| o.name.clone(),
    BuildDefinition => |o| o.name.clone(),
    GithubRepository => |o| o.name.clone(),
    GithubConnection => |o| o.name.clone(),
    WorkflowSettings => |o| o.name.clone(),
    ArtifactRegistry => |o| o.name.clone(),
    DeploymentConfig => |o| format!("{} (environment {})", o.application, o.environment),
    Environment => |o| o.name.clone(),
    OrganizationUser => |o| o.name.clone(),
    OrganizationUserGroup => |o| o.name.clone(),
    TokenPolicy => |o| o.name.clone(),
);

/// Inserts `value` unless its key is taken; a second declaration is a problem, the first wins.
fn put<K: Ord, V: Declared>(
    map: &mut BTreeMap<K, V>,
    key: K,
    value: V,
    kind: &str,
    problems: &mut Vec<Problem>,
) {
    if let Some(first) = map.get(&key) {
        let (first, here) = (first.origin(), value.origin());
        problems.push(Problem {
            file: here.file.clone(),
            line: Some(here.line),
            kind: Some(kind.to_string()),
            name: Some(value.shown_name()),
            field: Some("metadata.name".into()),
            message: format!(
                "duplicate: already declared at {}:{}",
                first.file, first.line
            ),
        });
    } else {
        map.insert(key, value);
    }
}
