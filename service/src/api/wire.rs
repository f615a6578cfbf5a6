//! The wire types: what requests carry and what mutations answer, as the OpenAPI document
//! describes them.

use std::collections::BTreeMap;

use cd_core::pipeline::{
    ApprovalAction, BuildNotified, ChangelogEntry, DeploymentStatus, DeploymentTrack, EngineStatus,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Integers as JSON Schema counts them: `3` and `3.0` are the same integer there, and a client
/// that writes numbers as doubles (JavaScript) sends the second. serde reads only the first
/// into an integer type; these read both, and refuse a fraction or a value out of range.
mod integral {
    use serde::{Deserialize, Deserializer, de::Error as _};

    /// The largest integer a double holds exactly.
    const EXACT: f64 = 9_007_199_254_740_991.0;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(u64),
        Float(f64),
    }

    fn whole<E: serde::de::Error>(n: Number, max: u64) -> Result<u64, E> {
        let value = match n {
            Number::Int(i) => i,
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Number::Float(f) if f.is_finite() && f.fract() == 0.0 && (0.0..=EXACT).contains(&f) => {
                f as u64
            }
            Number::Float(f) => {
                return Err(E::custom(format!(
                    "{f} is not a whole number from 0 to {max}"
                )));
            }
        };
        if value > max {
            return Err(E::custom(format!("{value} is larger than {max}")));
        }
        Ok(value)
    }

    /// A stage index: 0 to 65 535.
    pub(super) fn index<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        let n = Number::deserialize(d)?;
        whole(n, u64::from(u16::MAX)).and_then(|v| usize::try_from(v).map_err(D::Error::custom))
    }

    /// The milliseconds RFC 3339 can write: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z.
    const RFC3339_MS: std::ops::RangeInclusive<i64> = -62_167_219_200_000..=253_402_300_799_999;

    /// An optional time: RFC 3339 (any offset), or milliseconds since the Unix epoch, or null;
    /// read as milliseconds since the epoch. Milliseconds must name a time RFC 3339 can write
    /// (nanoseconds or microseconds sent for milliseconds mostly fall outside it).
    pub(super) fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Time {
            Text(String),
            Millis(i64),
        }
        match Option::<Time>::deserialize(d)? {
            None => Ok(None),
            Some(Time::Millis(ms)) if RFC3339_MS.contains(&ms) => Ok(Some(ms)),
            Some(Time::Millis(ms)) => Err(D::Error::custom(format!(
                "{ms} ms since the Unix epoch is after the year 9999 or before the year 0: \
                 milliseconds are expected"
            ))),
            Some(Time::Text(text)) => cd_core::pipeline::Timestamp::parse_rfc3339(&text)
                .map(|t| Some(t.0))
                .map_err(D::Error::custom),
        }
    }

    /// An optional count: 0 to 2^53 - 1, or null.
    pub(super) fn optional_number<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<u64>, D::Error> {
        match Option::<Number>::deserialize(d)? {
            None => Ok(None),
            Some(n) => whole(n, 9_007_199_254_740_991).map(Some),
        }
    }
}

/// A CI build notification: the body of `POST /v1/notifications/build`, and the document a
/// Pub/Sub message carries.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildNotification {
    /// The BuildDefinition that built it, or the ExternalApplication it is a version of.
    #[schema(example = "shop-api")]
    pub build_definition_id: String,
    /// The image name (`containerize.name`; for an ExternalApplication, its image).
    #[schema(example = "shop-api")]
    pub container: String,
    /// The image tag: semver, e.g. `v1.4.2` or `v1.4.1-hotfix.0`.
    // The pattern is the core's rule (an image tag that `order_key` can order: semver with or
    // without `v`, no build metadata since tags cannot hold `+`), with each number kept to 19
    // digits, which always fit the 64 bits semver allows.
    #[schema(
        example = "v1.4.2",
        pattern = r"^v?(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?$",
        max_length = 128
    )]
    pub version: String,
    /// The commit built.
    #[serde(default)]
    pub commit_sha: String,
    /// The source repository.
    #[serde(default)]
    pub repository: String,
    /// The git ref built.
    #[serde(default, rename = "ref")]
    pub git_ref: String,
    /// The image digest, when known.
    #[serde(default)]
    pub digest: Option<String>,
    /// The author of the change, when known.
    #[serde(default)]
    pub author: Option<String>,
    /// When the commit built was made (RFC 3339, e.g. `git show -s --format=%cI`; or
    /// milliseconds since the Unix epoch): where the lead time for changes starts. Without
    /// it, the lead time starts when the notification arrives.
    #[serde(default, deserialize_with = "integral::optional_time")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-04T09:30:00Z")]
    pub committed_at: Option<i64>,
    /// Changelog entries CI computed for this version.
    #[serde(default)]
    pub changelog: Vec<ChangelogItem>,
}

impl From<BuildNotification> for BuildNotified {
    fn from(n: BuildNotification) -> Self {
        BuildNotified {
            build_definition_id: n.build_definition_id,
            container: n.container,
            version: n.version,
            commit_sha: n.commit_sha,
            repository: n.repository,
            git_ref: n.git_ref,
            digest: n.digest,
            author: n.author,
            committed_at: n.committed_at.map(cd_core::pipeline::Timestamp),
            changelog: n.changelog.into_iter().map(ChangelogEntry::from).collect(),
        }
    }
}

/// One conventional commit of a build's changelog.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangelogItem {
    /// The application it is about (filled in from the build when empty).
    #[serde(default)]
    pub application: String,
    /// The version that carries it (filled in from the build when empty).
    #[serde(default)]
    pub version: String,
    /// The conventional-commit type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The scope, if any.
    #[serde(default)]
    pub scope: Option<String>,
    /// The description.
    pub description: String,
    /// A breaking change.
    pub breaking: bool,
    /// The commit.
    #[serde(default)]
    pub commit: Option<String>,
    /// The pull request number.
    #[serde(default, deserialize_with = "integral::optional_number")]
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_u64)]
    pub pr: Option<u64>,
}

impl From<ChangelogItem> for ChangelogEntry {
    fn from(c: ChangelogItem) -> Self {
        ChangelogEntry {
            application: c.application,
            version: c.version,
            kind: c.kind,
            scope: c.scope,
            description: c.description,
            breaking: c.breaking,
            commit: c.commit,
            pr: c.pr,
        }
    }
}

/// What the engine reports of a stage.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EngineOutcome {
    /// The stage reconciled.
    Success,
    /// The stage failed.
    Failed,
}

impl From<EngineOutcome> for EngineStatus {
    fn from(o: EngineOutcome) -> Self {
        match o {
            EngineOutcome::Success => EngineStatus::Success,
            EngineOutcome::Failed => EngineStatus::Failed,
        }
    }
}

/// An approver's decision.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Counts toward the quorum.
    Approve,
    /// Stops the stage (a later approval may resume it).
    Reject,
}

impl From<Verdict> for ApprovalAction {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Approve => ApprovalAction::Approve,
            Verdict::Reject => ApprovalAction::Reject,
        }
    }
}

/// Why a deployment exists.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Track {
    /// A build promoted through development environments (`PRE_RELEASE` is read too).
    #[serde(rename = "PRERELEASE", alias = "PRE_RELEASE")]
    PreRelease,
    /// A release bundle.
    Release,
    /// A hotfix.
    Hotfix,
    /// A rollback.
    Rollback,
}

impl From<Track> for DeploymentTrack {
    fn from(t: Track) -> Self {
        match t {
            Track::PreRelease => DeploymentTrack::PreRelease,
            Track::Release => DeploymentTrack::Release,
            Track::Hotfix => DeploymentTrack::Hotfix,
            Track::Rollback => DeploymentTrack::Rollback,
        }
    }
}

/// Where a deployment stands.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Created, or waiting to retry a failed side effect.
    Pending,
    /// Side effects or a stage under way.
    InProgress,
    /// Waiting for an approval quorum.
    AwaitingApproval,
    /// Every stage succeeded.
    Succeeded,
    /// A stage or a side effect failed for good.
    Failed,
    /// The current stage was rejected.
    Rejected,
    /// A newer version replaced it before it was promoted.
    Superseded,
    /// A newer attempt of the same release replaced it.
    Cancelled,
}

impl From<Status> for DeploymentStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => DeploymentStatus::Pending,
            Status::InProgress => DeploymentStatus::InProgress,
            Status::AwaitingApproval => DeploymentStatus::AwaitingApproval,
            Status::Succeeded => DeploymentStatus::Succeeded,
            Status::Failed => DeploymentStatus::Failed,
            Status::Rejected => DeploymentStatus::Rejected,
            Status::Superseded => DeploymentStatus::Superseded,
            Status::Cancelled => DeploymentStatus::Cancelled,
        }
    }
}

/// What a mutation did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The deployments the request concerns (created, found by deduplication, or addressed).
    pub deployments: Vec<String>,
    /// True when the request changed nothing (a repeat).
    pub duplicate: bool,
    /// Only for a Pub/Sub push refused for good: why. It is acknowledged (200) so that Pub/Sub
    /// does not deliver it again; nothing was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
}

/// A Pub/Sub push envelope.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushEnvelope {
    /// The message.
    pub message: PushMessage,
    /// The subscription.
    #[serde(default)]
    pub subscription: String,
}

/// A pushed message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushMessage {
    /// Base64 of a BuildNotified JSON document.
    pub data: String,
    /// Message attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Pub/Sub's id; redeliveries repeat it.
    #[serde(default, alias = "message_id")]
    pub message_id: String,
}

/// The most characters a person's comment or reason holds (what the Portal's fields take): the
/// ledger keeps every one for good.
pub(crate) const MAX_TEXT: usize = 2000;

/// A comment or a reason: at most [`MAX_TEXT`] characters.
pub(crate) fn bounded_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error as _;
    let text = String::deserialize(d)?;
    let n = text.chars().count();
    if n > MAX_TEXT {
        return Err(D::Error::custom(format!(
            "{n} characters: at most {MAX_TEXT}"
        )));
    }
    Ok(text)
}

/// The engine's report on one stage.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusBody {
    /// The deployment (the commit's `Infrastream-Deployment` trailer); must match the path.
    pub deployment: String,
    /// The stage (the commit's `Infrastream-Stage` trailer).
    #[serde(deserialize_with = "integral::index")]
    #[schema(minimum = 0, maximum = 65535)]
    pub stage_index: usize,
    /// What the engine saw.
    pub status: EngineOutcome,
    /// The commit reconciled.
    pub commit_sha: String,
    /// The engine run.
    #[serde(default)]
    pub run_id: String,
    /// What the engine said.
    #[serde(default)]
    pub message: String,
}

/// An approver's action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalBody {
    /// The gated stage.
    #[serde(deserialize_with = "integral::index")]
    #[schema(minimum = 0, maximum = 65535)]
    pub stage_index: usize,
    /// The decision.
    pub action: Verdict,
    /// Why.
    #[serde(default, deserialize_with = "bounded_text")]
    #[schema(max_length = 2000)]
    pub comment: String,
}

/// A release request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseBody {
    /// The application set.
    #[schema(example = "shop")]
    pub application_set: String,
    /// The bundle name, e.g. `2026.11`.
    // `cd_core::version::check_bundle`'s grammar; it also refuses a name ending in `.lock`,
    // which git refuses as a branch name and a pattern without look-behind cannot say.
    #[schema(
        example = "2026.11",
        pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$",
        max_length = 64
    )]
    pub bundle: String,
    /// Versions per application; others take their latest fully succeeded PreRelease.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
}

/// A rollback request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackBody {
    /// The application.
    #[schema(example = "shop-api")]
    pub application: String,
    /// The environment.
    #[schema(example = "development")]
    pub environment: String,
    /// An existing image tag.
    #[schema(example = "v1.0.0", pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    pub version: String,
}

/// A hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// Why.
    #[serde(default, deserialize_with = "bounded_text")]
    #[schema(max_length = 2000)]
    pub reason: String,
}

/// A cancel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why: kept in the ledger with who cancelled and when.
    #[serde(default, deserialize_with = "bounded_text")]
    #[schema(max_length = 2000)]
    pub comment: String,
}

/// Filters of the deployment list.
#[derive(Debug, Deserialize, Serialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this application set.
    pub(super) application_set: Option<String>,
    /// Only this application (or bundles containing it).
    pub(super) application: Option<String>,
    /// Only this track.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) track: Option<Track>,
    /// Only this status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status: Option<Status>,
    /// At most this many, newest first (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub(super) limit: Option<u16>,
    /// The next page: the cursor the `Link` header of the previous page names.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(pattern = r"^[0-9]{1,18}\.[0-9]{1,18}\..+$")]
    pub(super) after: Option<String>,
}

/// Whose approvals to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalsQuery {
    /// The person (an OrganizationUser's name or email); `me`, or absent: the caller.
    #[serde(rename = "pending_for")]
    #[param(rename = "pending_for")]
    pub(super) pending_for: Option<String>,
}
