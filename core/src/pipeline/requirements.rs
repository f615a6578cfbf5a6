//! What a new deployment names outside the pipeline: the image tag every manifest version must
//! resolve to, and the git tag a release branch starts at. A driver makes sure each exists
//! before it stores the decision; the core only says what to ask.

use std::fmt;

use super::decision::{Decision, StateWrite};
use super::model::DeploymentTrack;
use crate::manifest::Catalog;

/// One thing that must exist before a new deployment is accepted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requirement {
    /// `tag` of `image` in `registry`: every version a manifest names is an image tag.
    ImageTag {
        /// The application whose version it is.
        application: String,
        /// The registry (an ArtifactRegistry name).
        registry: String,
        /// The image.
        image: String,
        /// The tag.
        tag: String,
    },
    /// `tag` in the source repository `repository`: a release branch starts at it.
    GitTag {
        /// The application whose version it is.
        application: String,
        /// The source repository (a GithubRepository name).
        repository: String,
        /// The tag.
        tag: String,
    },
}

impl Requirement {
    /// The application the requirement belongs to.
    #[must_use]
    pub fn application(&self) -> &str {
        match self {
            Requirement::ImageTag { application, .. } | Requirement::GitTag { application, .. } => {
                application
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::ImageTag {
                registry,
                image,
                tag,
                ..
            } => write!(f, "image tag {tag} of {image} in registry {registry}"),
            Requirement::GitTag {
                repository, tag, ..
            } => write!(f, "git tag {tag} in source repository {repository}"),
        }
    }
}

/// What the deployments `decision` creates name outside the pipeline: the image tag of each
/// version in each registry of the application's image and, for a release, the git tag each
/// release branch starts at. Deployments the decision only changes were checked when created.
#[must_use]
pub fn requirements(decision: &Decision, catalog: &Catalog) -> Vec<Requirement> {
    let mut out = Vec::new();
    let created = decision.writes.iter().filter_map(|w| match w {
        StateWrite::PutDeployment {
            expected_revision: None,
            deployment,
        } => Some(deployment),
        _ => None,
    });
    // Every created deployment, even one superseded at once: its input may still have changed
    // others (a newer build supersedes older ones before it meets a newer live one), and an
    // input naming a version that does not exist changes nothing.
    for d in created {
        if d.track == DeploymentTrack::Release {
            for (app, a) in &d.apps {
                out.extend(a.registries.iter().map(|registry| Requirement::ImageTag {
                    application: app.clone(),
                    registry: registry.clone(),
                    image: a.image.clone(),
                    tag: a.version.clone(),
                }));
                if let Some(repository) = &a.repository {
                    out.push(Requirement::GitTag {
                        application: app.clone(),
                        repository: repository.clone(),
                        tag: a.version.clone(),
                    });
                }
            }
            continue;
        }
        let Some(app) = d.application.as_deref() else {
            continue;
        };
        if let Some(image) = catalog.image_of(app) {
            out.extend(
                image
                    .registries
                    .iter()
                    .map(|registry| Requirement::ImageTag {
                        application: app.to_string(),
                        registry: registry.clone(),
                        image: image.name.to_string(),
                        tag: d.version.clone(),
                    }),
            );
        }
    }
    out.sort();
    out.dedup();
    out
}
