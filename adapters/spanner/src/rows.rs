//! Rows back into the pipeline's types.

use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, ChangelogRecord, Deployment, DeploymentId, DeploymentTrack,
    EnvVersion, Hold, Timestamp,
};
use cd_ports::StoreError;
use google_cloud_spanner::row::Row;
use time::OffsetDateTime;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn col<T: google_cloud_spanner::row::TryFromValue>(row: &Row, name: &str) -> Result<T, StoreError> {
    row.column_by_name(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// Milliseconds since the epoch.
pub(crate) fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn decode(text: &str) -> Result<Deployment, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}

fn track(text: &str) -> Result<DeploymentTrack, StoreError> {
    DeploymentTrack::parse(text).ok_or_else(|| corrupt(format!("unknown track {text}")))
}

pub(crate) fn approval_of(row: &Row) -> Result<ApprovalRecord, StoreError> {
    let action: String = col(row, "Action")?;
    Ok(ApprovalRecord {
        deployment: DeploymentId(col(row, "DeploymentID")?),
        approval_id: col(row, "ApprovalID")?,
        stage_index: usize::try_from(col::<i64>(row, "StageIndex")?).map_err(corrupt)?,
        actor: col(row, "Actor")?,
        action: ApprovalAction::parse(&action)
            .ok_or_else(|| corrupt(format!("unknown approval action {action}")))?,
        comment: col(row, "Comment")?,
        // The commit's timestamp: when Spanner recorded it, not a manager's clock.
        at: Timestamp(ms(col::<OffsetDateTime>(row, "Timestamp")?)),
    })
}

pub(crate) fn changelog_of(row: &Row) -> Result<ChangelogRecord, StoreError> {
    let body: String = col(row, "Body")?;
    Ok(ChangelogRecord {
        deployment: DeploymentId(col(row, "DeploymentID")?),
        changelog_id: col(row, "ChangelogID")?,
        entry: serde_json::from_str(&body).map_err(corrupt)?,
    })
}

pub(crate) fn hold_of(row: &Row) -> Result<(String, Hold), StoreError> {
    Ok((
        col(row, "Environment")?,
        Hold {
            reason: col(row, "Reason")?,
            actor: col(row, "Actor")?,
            at: Timestamp(col(row, "PlacedAt")?),
        },
    ))
}

pub(crate) fn env_version_of(row: &Row) -> Result<(String, EnvVersion), StoreError> {
    let application: String = col(row, "Application")?;
    let environment: String = col(row, "Environment")?;
    let v = EnvVersion {
        application: application.clone(),
        environment: environment.clone(),
        version: col(row, "Version")?,
        previous: col(row, "Previous")?,
        deployment: DeploymentId(col(row, "DeploymentID")?),
        track: track(&col::<String>(row, "Track")?)?,
        in_flight: col(row, "InFlight")?,
        revision: u64::try_from(col::<i64>(row, "Revision")?).map_err(corrupt)?,
    };
    Ok((cd_core::pipeline::env_key(&application, &environment), v))
}
