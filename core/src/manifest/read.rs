//! Reading one YAML document into one manifest object, collecting every problem on the way.

use super::ci_kinds::{BuildDefinition, GithubConnection, GithubRepository, WorkflowSettings};
use super::kinds::{
    ApplicationSet, ApprovalPolicy, ArtifactRegistry, DeploymentConfig, Environment,
    OrganizationUser, OrganizationUserGroup, Origin, ReleaseTrack, Source, Stage,
};
use super::token_policy::TokenPolicy;
use super::{Application, Problem};
use crate::yaml::{Doc, NodeId, NodeKind};

/// The `apiVersion` of the manifests this engine reads.
pub const API_VERSION: &str = "lowops.manifests.v1";

/// A manifest object of a kind the engine models.
#[derive(Debug)]
pub(crate) enum Object {
    ReleaseTrack(ReleaseTrack),
    ApplicationSet(ApplicationSet),
    Application(Application),
    BuildDefinition(BuildDefinition),
    GithubRepository(GithubRepository),
    GithubConnection(GithubConnection),
    WorkflowSettings(WorkflowSettings),
    ArtifactRegistry(ArtifactRegistry),
    DeploymentConfig(DeploymentConfig),
    Environment(Environment),
    OrganizationUser(OrganizationUser),
    OrganizationUserGroup(OrganizationUserGroup),
    TokenPolicy(TokenPolicy),
}

/// What one document turned out to be.
#[derive(Debug)]
pub(crate) enum Read {
    /// A modelled kind (it may still have had problems, which were reported).
    Object(Box<Object>),
    /// One of ours, of a kind we do not model: counted and ignored.
    Ignored(String),
    /// A document of another `apiVersion` (another tool's, or a version this engine does not
    /// read): listed, not read.
    OtherApi(String),
    /// Not a manifest at all (no `apiVersion`), or empty.
    Foreign,
    /// Too broken to be an object; the problems say why.
    Broken,
}

/// Reads document `doc` of `file`.
pub(crate) fn read_document(file: &str, doc: &Doc, problems: &mut Vec<Problem>) -> Read {
    let Some(root) = doc.root() else {
        return Read::Foreign;
    };
    if doc.entries(root).is_none() {
        return Read::Foreign;
    }
    match doc.get(root, "apiVersion").and_then(|n| doc.scalar(n)) {
        Some(API_VERSION) => {}
        Some(other) if !other.is_empty() => return Read::OtherApi(other.to_string()),
        _ => return Read::Foreign,
    }
    let line = doc.node(root).map_or(1, |n| n.start.line);
    let mut r = Reader {
        doc,
        file,
        kind: None,
        name: None,
        line,
        problems,
    };
    let Some(kind) = r.string(Some(root), "", "kind", true) else {
        return Read::Broken;
    };
    r.kind = Some(kind.clone());
    if let Some(k) = doc.get(root, "kind").and_then(|n| doc.node(n)) {
        r.line = k.start.line;
    }
    let metadata = r.map(Some(root), "", "metadata", true);
    let Some(name) = r.string(metadata, "metadata", "name", true) else {
        return Read::Broken;
    };
    r.name = Some(name.clone());
    let spec = doc.get(root, "spec");
    let origin = Origin {
        file: file.to_string(),
        line: r.line,
    };
    let object = match kind.as_str() {
        "ReleaseTrack" => Object::ReleaseTrack(ReleaseTrack {
            name,
            pre_release_stages: r.stages(spec, "preReleaseStages"),
            release_stages: r.stages(spec, "releaseStages"),
            hotfix_stages: r.stages(spec, "hotfixStages"),
            origin,
        }),
        "ApplicationSet" => Object::ApplicationSet(ApplicationSet {
            name,
            release_track: r
                .string(metadata, "metadata", "release-track", true)
                .unwrap_or_default(),
            origin,
        }),
        "Application" => Object::Application(Application {
            name,
            application_set: r
                .string(metadata, "metadata", "application-set", true)
                .unwrap_or_default(),
            release_track: r.string(metadata, "metadata", "release-track", false),
            source: Source::Build {
                build_definition: r
                    .string(spec, "spec", "buildDefinition", true)
                    .unwrap_or_default(),
            },
            origin,
        }),
        "ExternalApplication" => Object::Application(Application {
            application_set: r
                .string(metadata, "metadata", "application-set", true)
                .unwrap_or_default(),
            release_track: r.string(metadata, "metadata", "release-track", false),
            source: Source::External {
                image: r
                    .string(spec, "spec", "image", false)
                    .unwrap_or_else(|| name.clone()),
                registries: r.strings(spec, "spec", "registries"),
            },
            name,
            origin,
        }),
        "BuildDefinition" => {
            Object::BuildDefinition(r.build_definition(name, metadata, spec, origin))
        }
        "GithubRepository" => {
            Object::GithubRepository(r.github_repository(name, metadata, spec, origin))
        }
        "GithubConnection" => Object::GithubConnection(r.github_connection(name, spec, origin)),
        "TokenPolicy" => Object::TokenPolicy(r.token_policy(name, metadata, spec, origin)),
        "WorkflowSettings" => Object::WorkflowSettings(r.workflow_settings(name, spec, origin)),
        "ArtifactRegistry" => Object::ArtifactRegistry(ArtifactRegistry {
            name,
            registry_type: r.string(spec, "spec", "type", false),
            origin,
        }),
        "DeploymentConfig" => Object::DeploymentConfig(DeploymentConfig {
            environment: r
                .string(metadata, "metadata", "environment", true)
                .unwrap_or_default(),
            version: r.image_tag(spec, "spec", "version"),
            application: name,
            origin,
        }),
        "Environment" => Object::Environment(Environment { name, origin }),
        "OrganizationUser" => Object::OrganizationUser(OrganizationUser {
            name,
            primary_email: r.string(spec, "spec", "primaryEmail", false),
            origin,
        }),
        "OrganizationUserGroup" => {
            let members = r.map(spec, "spec", "members", false);
            Object::OrganizationUserGroup(OrganizationUserGroup {
                name,
                email: r.string(spec, "spec", "email", false),
                users: r.strings(members, "spec.members", "users"),
                external: r.strings(members, "spec.members", "external"),
                origin,
            })
        }
        other => {
            if let Some(known) = closest_kind(other) {
                r.report(
                    "kind".into(),
                    doc.get(root, "kind"),
                    format!("unknown kind '{other}'; the closest known kind is '{known}'"),
                );
                return Read::Broken;
            }
            return Read::Ignored(other.to_string());
        }
    };
    // An object with problems is kept: dropping it would report its dependents as dangling.
    Read::Object(Box::new(object))
}

/// Every kind the engine reads.
pub const KINDS: [&str; 14] = [
    "ReleaseTrack",
    "ApplicationSet",
    "Application",
    "ExternalApplication",
    "BuildDefinition",
    "GithubRepository",
    "GithubConnection",
    "TokenPolicy",
    "WorkflowSettings",
    "ArtifactRegistry",
    "DeploymentConfig",
    "Environment",
    "OrganizationUser",
    "OrganizationUserGroup",
];

/// The kind the engine reads that `kind` is a slip of (a letter or two off, or another case),
/// if any. A kind further from every one of ours is taken as one of the platform's kinds the
/// engine does not act on (counted and ignored).
fn closest_kind(kind: &str) -> Option<&'static str> {
    let lower = kind.to_ascii_lowercase();
    KINDS
        .iter()
        .map(|k| (strsim::levenshtein(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Reads fields of one document, reporting each problem with the object's identity.
pub(super) struct Reader<'a> {
    pub(super) doc: &'a Doc,
    file: &'a str,
    kind: Option<String>,
    name: Option<String>,
    line: usize,
    problems: &'a mut Vec<Problem>,
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Reader<'_> {
    pub(super) fn report(&mut self, field: String, node: Option<NodeId>, message: String) {
        let line = node
            .and_then(|n| self.doc.raw(n))
            .map_or(self.line, |n| n.start.line);
        self.problems.push(Problem {
            file: self.file.to_string(),
            line: Some(line),
            kind: self.kind.clone(),
            name: self.name.clone(),
            field: Some(field),
            message,
        });
    }

    pub(super) fn shape(&self, id: NodeId) -> &'static str {
        match self.doc.node(id).map(|n| &n.kind) {
            Some(NodeKind::Scalar { .. }) => "a scalar",
            Some(NodeKind::Seq(_)) => "a list",
            Some(NodeKind::Map(_)) => "a mapping",
            Some(NodeKind::Alias(_)) | None => "an unresolvable alias",
        }
    }

    /// A string field; absent or empty counts as missing.
    pub(super) fn string(
        &mut self,
        parent: Option<NodeId>,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<String> {
        let field = join(path, key);
        let node = parent.and_then(|p| self.doc.get(p, key));
        match node {
            Some(id) => match self.doc.scalar(id) {
                Some(s) if !s.is_empty() && s != "~" && s != "null" => Some(s.to_string()),
                Some(_) if required => {
                    self.report(field, Some(id), "is empty".into());
                    None
                }
                Some(_) => None,
                None => {
                    let shape = self.shape(id);
                    self.report(field, Some(id), format!("expected a string, found {shape}"));
                    None
                }
            },
            None if required => {
                self.report(field, parent, "is missing".into());
                None
            }
            None => None,
        }
    }

    /// A mapping field.
    pub(super) fn map(
        &mut self,
        parent: Option<NodeId>,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<NodeId> {
        let field = join(path, key);
        match parent.and_then(|p| self.doc.get(p, key)) {
            Some(id) if self.doc.entries(id).is_some() => Some(id),
            Some(id) if self.doc.scalar(id).is_some_and(|s| s.is_empty()) && !required => None,
            Some(id) => {
                let shape = self.shape(id);
                self.report(
                    field,
                    Some(id),
                    format!("expected a mapping, found {shape}"),
                );
                None
            }
            None if required => {
                self.report(field, parent, "is missing".into());
                None
            }
            None => None,
        }
    }

    /// The nodes of a list field; absent or empty is an empty list.
    pub(super) fn list(&mut self, parent: Option<NodeId>, path: &str, key: &str) -> Vec<NodeId> {
        match parent.and_then(|p| self.doc.get(p, key)) {
            Some(id) => match self.doc.items(id) {
                Some(items) => items.to_vec(),
                None if self.doc.scalar(id).is_some_and(|s| s.is_empty()) => Vec::new(),
                None => {
                    let shape = self.shape(id);
                    self.report(
                        join(path, key),
                        Some(id),
                        format!("expected a list, found {shape}"),
                    );
                    Vec::new()
                }
            },
            None => Vec::new(),
        }
    }

    /// An optional image tag (a DeploymentConfig's `spec.version`): present means valid, since
    /// the engine writes it into an image reference. Empty is reported, not taken as absent.
    pub(super) fn image_tag(
        &mut self,
        parent: Option<NodeId>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        let node = parent.and_then(|p| self.doc.get(p, key));
        let empty = node
            .and_then(|id| self.doc.scalar(id))
            .is_some_and(|s| s.is_empty() || s == "~" || s == "null");
        if empty {
            self.report(
                join(path, key),
                node,
                "is empty: a version is an image tag such as v1.2.0".into(),
            );
            return None;
        }
        let tag = self.string(parent, path, key, false)?;
        if !crate::version::is_valid_image_tag(&tag) {
            self.report(
                join(path, key),
                node,
                format!(
                    "'{tag}' is not a valid image tag (letters, digits, '_', '.' and '-', up to 128, not starting with '.' or '-')"
                ),
            );
            return None;
        }
        Some(tag)
    }

    /// A list of strings.
    pub(super) fn strings(&mut self, parent: Option<NodeId>, path: &str, key: &str) -> Vec<String> {
        let items = self.list(parent, path, key);
        let mut out = Vec::with_capacity(items.len());
        for (i, id) in items.into_iter().enumerate() {
            match self.doc.scalar(id) {
                Some(s) if !s.is_empty() => out.push(s.to_string()),
                _ => {
                    let shape = self.shape(id);
                    self.report(
                        format!("{}[{i}]", join(path, key)),
                        Some(id),
                        format!("expected a non-empty string, found {shape}"),
                    );
                }
            }
        }
        out
    }

    fn stages(&mut self, spec: Option<NodeId>, key: &str) -> Vec<Stage> {
        let items = self.list(spec, "spec", key);
        let mut stages = Vec::with_capacity(items.len());
        for (i, id) in items.into_iter().enumerate() {
            let path = format!("spec.{key}[{i}]");
            if self.doc.entries(id).is_none() {
                let shape = self.shape(id);
                self.report(path, Some(id), format!("expected a mapping, found {shape}"));
                continue;
            }
            let environments = self.strings(Some(id), &path, "environments");
            if environments.is_empty() {
                self.report(
                    join(&path, "environments"),
                    Some(id),
                    "a stage needs at least one environment".into(),
                );
            }
            let approval = self.approval(Some(id), &path);
            stages.push(Stage {
                environments,
                approval,
            });
        }
        stages
    }

    fn approval(&mut self, stage: Option<NodeId>, path: &str) -> Option<ApprovalPolicy> {
        let policy = self.map(stage, path, "approvalPolicy", false)?;
        let path = join(path, "approvalPolicy");
        let any_of = self.map(Some(policy), &path, "anyOf", true)?;
        let path = join(&path, "anyOf");
        let min_field = join(&path, "minApprovals");
        let min_approvals = match self.doc.get(any_of, "minApprovals") {
            None => 1,
            Some(id) => match self.doc.scalar(id).map(str::parse::<u32>) {
                Some(Ok(n)) if n >= 1 => n,
                _ => {
                    let found = self
                        .doc
                        .scalar(id)
                        .map_or_else(|| self.shape(id).to_string(), |s| format!("'{s}'"));
                    self.report(
                        min_field,
                        Some(id),
                        format!("expected a whole number of at least 1, found {found}"),
                    );
                    1
                }
            },
        };
        let mut groups = Vec::new();
        let policies = self.list(Some(any_of), &path, "policies");
        for (i, id) in policies.into_iter().enumerate() {
            let item = format!("{path}.policies[{i}]");
            let stakeholder = self.map(Some(id), &item, "stakeholder", true);
            let item = join(&item, "stakeholder");
            if let Some(group) = self.string(stakeholder, &item, "groupEmail", true) {
                groups.push(group);
            }
        }
        if groups.is_empty() {
            self.report(
                join(&path, "policies"),
                Some(any_of),
                "an approval policy needs at least one stakeholder group".into(),
            );
        }
        Some(ApprovalPolicy {
            min_approvals,
            groups,
        })
    }
}
