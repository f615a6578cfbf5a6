//! Questions the pipeline asks of a catalog.

use std::collections::BTreeSet;

use super::catalog::Catalog;
use super::kinds::{
    Application, ApprovalPolicy, DeploymentConfig, OrganizationUserGroup, ReleaseTrack, Source,
};

/// The image an application deploys and the registries that hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image<'a> {
    /// The image (repository) name, e.g. the BuildDefinition's `containerize.name`.
    pub name: &'a str,
    /// ArtifactRegistry names it is pushed to.
    pub registries: &'a [String],
}

impl Catalog {
    /// A group by its name or its email (`groupEmail` may hold either).
    #[must_use]
    pub fn group(&self, name_or_email: &str) -> Option<&OrganizationUserGroup> {
        self.groups.get(name_or_email).or_else(|| {
            self.groups
                .values()
                .find(|g| g.email.as_deref() == Some(name_or_email))
        })
    }

    /// The canonical identity of an actor: the OrganizationUser name when the actor is a user's
    /// name or primary email, else the actor as given. Two spellings of one person are one
    /// approver.
    #[must_use]
    pub fn identity(&self, actor: &str) -> String {
        if self.users.contains_key(actor) {
            return actor.to_string();
        }
        self.users
            .values()
            .find(|u| u.primary_email.as_deref() == Some(actor))
            .map_or_else(|| actor.to_string(), |u| u.name.clone())
    }

    /// Whether `actor` is someone this tenant knows: an OrganizationUser (by name or primary
    /// email) or an external member of a group. Only such people act on deployments.
    #[must_use]
    pub fn knows(&self, actor: &str) -> bool {
        self.users.contains_key(actor)
            || self
                .users
                .values()
                .any(|u| u.primary_email.as_deref() == Some(actor))
            || self
                .groups
                .values()
                .any(|g| g.external.iter().any(|e| e == actor))
    }

    /// Canonical identities of everyone who may approve under `policy`.
    #[must_use]
    pub fn stakeholders(&self, policy: &ApprovalPolicy) -> BTreeSet<String> {
        policy
            .groups
            .iter()
            .filter_map(|g| self.group(g))
            .flat_map(|g| g.users.iter().chain(g.external.iter()))
            .map(|member| self.identity(member))
            .collect()
    }

    /// The applications a CI build notification is for: those whose BuildDefinition is
    /// `build_definition` and builds the image `container`.
    #[must_use]
    pub fn applications_for_build(
        &self,
        build_definition: &str,
        container: &str,
    ) -> Vec<&Application> {
        self.applications
            .values()
            .filter(|app| match &app.source {
                Source::Build {
                    build_definition: b,
                } => {
                    b == build_definition
                        && self
                            .build_definitions
                            .get(b)
                            .and_then(|d| d.containerize.as_ref())
                            .is_some_and(|c| c.name == container)
                }
                Source::External { .. } => false,
            })
            .collect()
    }

    /// The release track an application deploys on, through its application set.
    #[must_use]
    pub fn track_of(&self, application: &str) -> Option<&ReleaseTrack> {
        let app = self.applications.get(application)?;
        let set = self.application_sets.get(&app.application_set)?;
        self.release_tracks.get(&set.release_track)
    }

    /// The applications of a set, by name.
    #[must_use]
    pub fn applications_in_set(&self, application_set: &str) -> Vec<&Application> {
        self.applications
            .values()
            .filter(|a| a.application_set == application_set)
            .collect()
    }

    /// The image an application deploys.
    #[must_use]
    pub fn image_of(&self, application: &str) -> Option<Image<'_>> {
        match &self.applications.get(application)?.source {
            Source::Build { build_definition } => {
                let c = self
                    .build_definitions
                    .get(build_definition)?
                    .containerize
                    .as_ref()?;
                Some(Image {
                    name: &c.name,
                    registries: &c.registries,
                })
            }
            Source::External { image, registries } => Some(Image {
                name: image,
                registries,
            }),
        }
    }

    /// The DeploymentConfig of an application in an environment.
    #[must_use]
    pub fn deployment_config(
        &self,
        application: &str,
        environment: &str,
    ) -> Option<&DeploymentConfig> {
        self.deployment_configs
            .get(&(application.to_string(), environment.to_string()))
    }
}
