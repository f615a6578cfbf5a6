//! Effects: side effects a decision asks the driver to perform, and what came of them.
//!
//! Every effect has a deterministic id that is also its idempotency key: executing an effect twice
//! (after a crash, or by two managers) must be harmless, and the id lets the driver and adapters
//! recognise a repeat.

use serde::{Deserialize, Serialize};

use super::model::{DeploymentId, Timestamp};

/// A side effect for the driver to perform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Effect {
    /// Deterministic id and idempotency key.
    pub id: String,
    /// The deployment it belongs to.
    pub deployment: DeploymentId,
    /// What to do.
    pub kind: EffectKind,
}

/// What an effect does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum EffectKind {
    /// List an image's tags in a registry (read-only; numbers RC and production tags).
    ListTags {
        /// Registry name (an ArtifactRegistry).
        registry: String,
        /// Image name.
        image: String,
    },
    /// Create `tag` for the digest `source` points at. Tags are never moved: an existing `tag`
    /// with the same digest is success, with another digest a permanent failure.
    TagImage {
        /// Registry name.
        registry: String,
        /// Image name.
        image: String,
        /// The existing tag whose digest the new tag takes.
        source: String,
        /// The new tag.
        tag: String,
    },
    /// Set `spec.version` in these DeploymentConfigs and commit them as one commit.
    WriteManifests {
        /// The edits.
        edits: Vec<ManifestEdit>,
        /// Commit message, with `Infrastream-Deployment` and `Infrastream-Stage` trailers.
        message: String,
        /// The deployment id, as in the trailer (lets an adapter find an earlier commit).
        deployment: DeploymentId,
        /// The stage index, as in the trailer.
        stage: usize,
    },
    /// Create `branch` in `repository` at the commit of `from_tag`; an existing branch is
    /// success and is never moved.
    CreateBranch {
        /// Repository (a GithubRepository name).
        repository: String,
        /// Branch name, `release/<appSet>/<bundle>`.
        branch: String,
        /// The tag whose commit the branch starts at.
        from_tag: String,
    },
    /// Create a release with notes (idempotent by tag).
    CreateRelease {
        /// Repository.
        repository: String,
        /// Tag the release is for.
        tag: String,
        /// Release name.
        name: String,
        /// Release notes (markdown).
        notes: String,
    },
    /// Publish an event.
    Publish {
        /// The event.
        event: CloudEvent,
    },
}

impl EffectKind {
    /// A short name for logs and metrics.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            EffectKind::ListTags { .. } => "list-tags",
            EffectKind::TagImage { .. } => "tag-image",
            EffectKind::WriteManifests { .. } => "write-manifests",
            EffectKind::CreateBranch { .. } => "create-branch",
            EffectKind::CreateRelease { .. } => "create-release",
            EffectKind::Publish { .. } => "publish",
        }
    }
}

/// One DeploymentConfig to edit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEdit {
    /// Path of the file in the manifest repository.
    pub path: String,
    /// Its `metadata.name`.
    pub application: String,
    /// Its `metadata.environment`.
    pub environment: String,
    /// The version to write.
    pub version: String,
}

/// An effect decided and not yet confirmed: one row of a deployment's outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingEffect {
    /// The effect.
    pub effect: Effect,
    /// Set when the driver gave up on it; it runs again after a retry.
    pub parked: bool,
}

/// What came of an effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum EffectOutcome {
    /// ListTags: the tags found.
    Tags {
        /// Every tag of the image.
        tags: Vec<String>,
    },
    /// TagImage: the tag exists with the source's digest.
    Tagged {
        /// The digest.
        digest: String,
    },
    /// WriteManifests: the commit that carries the edits, or none when the files already held
    /// the versions and no commit of this deployment and stage exists.
    Committed {
        /// The commit id.
        commit: Option<String>,
    },
    /// CreateBranch: where the branch points.
    BranchAt {
        /// The commit.
        commit: String,
    },
    /// CreateRelease: done.
    Released,
    /// Publish: delivered.
    Published,
}

/// A CloudEvents 1.0 event, JSON format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// Deterministic: `<deployment id>-<n>`.
    pub id: String,
    /// Who emits it, e.g. `/infrastream/cd-manager`.
    pub source: String,
    /// E.g. `dev.infrastream.stage.succeeded`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The deployment id.
    pub subject: String,
    /// Milliseconds since the epoch, as stored in an outbox; [`CloudEvent::structured`] and the
    /// Pub/Sub attributes render it as RFC 3339.
    pub time: Timestamp,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The payload.
    pub data: serde_json::Value,
}

impl CloudEvent {
    /// The event in the CloudEvents JSON format (structured content mode): every attribute
    /// as the specification names it, `time` in RFC 3339.
    #[must_use]
    pub fn structured(&self) -> serde_json::Value {
        serde_json::json!({
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.event_type,
            "subject": self.subject,
            "time": self.time.rfc3339(),
            "datacontenttype": self.datacontenttype,
            "data": self.data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_become_rfc3339_utc() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_795_745_992_123).rfc3339(),
            "2026-11-27T02:19:52.123Z"
        );
        assert_eq!(
            Timestamp(1_709_208_000_001).rfc3339(),
            "2024-02-29T12:00:00.001Z"
        );
        assert_eq!(Timestamp(-1).rfc3339(), "1969-12-31T23:59:59.999Z");
    }
}
