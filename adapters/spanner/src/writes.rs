//! The writes of a decision, buffered as mutations in its read-write transaction: revisions
//! checked, rows put, ledger rows appended at their next position.

use std::collections::BTreeMap;

use cd_core::pipeline::{Deployment, DeploymentTrack, EnvVersion, Record, StateWrite, records_of};
use cd_core::version::order_key;
use cd_ports::{StoreError, deployment_tables};
use google_cloud_googleapis::spanner::v1::Mutation;
use google_cloud_spanner::key::Key;
use google_cloud_spanner::mutation::{delete, insert, insert_or_update, update};
use google_cloud_spanner::statement::Statement;
use google_cloud_spanner::transaction_rw::ReadWriteTransaction;
use google_cloud_spanner::value::CommitTimestamp;

use crate::{TxError, corrupt, int};

pub(crate) fn body(d: &Deployment) -> Result<String, StoreError> {
    serde_json::to_string(d).map_err(corrupt)
}

/// Rows of a query inside a read-write transaction. Errors keep their gRPC status, so an
/// ABORTED read is retried like an ABORTED commit.
pub(crate) async fn rw_rows(
    tx: &mut ReadWriteTransaction,
    stmt: Statement,
) -> Result<Vec<google_cloud_spanner::row::Row>, TxError> {
    let mut it = tx.query(stmt).await?;
    let mut out = Vec::new();
    while let Some(row) = it.next().await? {
        out.push(row);
    }
    Ok(out)
}

pub(crate) async fn revision_of(
    tx: &mut ReadWriteTransaction,
    table: &str,
    key: Key,
) -> Result<Option<i64>, TxError> {
    let row = tx.read_row(table, &["Revision"], key).await?;
    Ok(match row {
        Some(r) => Some(r.column_by_name::<i64>("Revision")?),
        None => None,
    })
}

pub(crate) async fn existing_keys(
    tx: &mut ReadWriteTransaction,
    table: &str,
    column: &str,
    id: &str,
) -> Result<Vec<google_cloud_spanner::row::Row>, TxError> {
    let mut stmt = Statement::new(format!(
        "SELECT {column} FROM {table} WHERE DeploymentID = @id"
    ));
    stmt.add_param("id", &id);
    rw_rows(tx, stmt).await
}

/// Puts a deployment: its revision checked, its row, its stages and (for a release) its
/// bundle's apps, each child table brought to exactly the deployment's rows.
pub(crate) async fn put_deployment(
    tx: &mut ReadWriteTransaction,
    d: &Deployment,
    expected: Option<u64>,
) -> Result<(), TxError> {
    let (table, _) = deployment_tables(d.track);
    if let Some(exp) = expected {
        match revision_of(tx, table, Key::new(&d.id.0)).await? {
            Some(current) if current == int(exp)? => {}
            found => {
                return Err(TxError::Conflict(format!(
                    "deployment {} changed since it was read (revision {found:?}, expected {exp})",
                    d.id
                )));
            }
        }
    }
    let mut ms = vec![deployment_row(d, expected)?];
    stage_rows(tx, d, expected, &mut ms).await?;
    if d.track == DeploymentTrack::Release {
        bundle_app_rows(tx, d, expected, &mut ms).await?;
    }
    tx.buffer_write(ms);
    Ok(())
}

/// The deployment's own row: inserted when new, else updated (only the columns that change).
/// Releases and the other tracks live in tables of their own with their own columns; each
/// column list stands beside its values.
fn deployment_row(d: &Deployment, expected: Option<u64>) -> Result<Mutation, TxError> {
    let (table, _) = deployment_tables(d.track);
    let id = d.id.0.clone();
    let revision = int(d.revision)?;
    let stage_index = int(d.current_stage)?;
    let sequence = int(d.sequence)?;
    let json = body(d)?;
    let release = d.track == DeploymentTrack::Release;
    let last_deployed = serde_json::to_string(&d.last_deployed_versions).map_err(corrupt)?;
    // Derived from the body, for the keyed reads of a decision (schema migration 2).
    let open_set = d.is_open().then(|| d.application_set.clone());
    let version_key = order_key(&d.version);
    Ok(match (release, expected) {
        (true, None) => insert(
            table,
            &[
                "DeploymentID",
                "Revision",
                "Status",
                "ApplicationSet",
                "Bundle",
                "Version",
                "StageIndex",
                "LastDeployedVersions",
                "Sequence",
                "CreatedAt",
                "UpdatedAt",
                "Body",
                "OpenSet",
                "Backfilled",
            ],
            &[
                &id,
                &revision,
                &d.status.as_str(),
                &d.application_set,
                &d.bundle.clone().unwrap_or_default(),
                &d.version,
                &stage_index,
                &last_deployed,
                &sequence,
                &d.created_at.0,
                &d.updated_at.0,
                &json,
                &open_set,
                &true,
            ],
        ),
        (true, Some(_)) => update(
            table,
            &[
                "DeploymentID",
                "Revision",
                "Status",
                "Version",
                "StageIndex",
                "LastDeployedVersions",
                "UpdatedAt",
                "Body",
                "OpenSet",
                "Backfilled",
            ],
            &[
                &id,
                &revision,
                &d.status.as_str(),
                &d.version,
                &stage_index,
                &last_deployed,
                &d.updated_at.0,
                &json,
                &open_set,
                &true,
            ],
        ),
        (false, None) => insert(
            table,
            &[
                "DeploymentID",
                "Track",
                "Revision",
                "Status",
                "ApplicationSet",
                "Application",
                "Version",
                "StageIndex",
                "BuildDefinition",
                "DedupKey",
                "Sequence",
                "CreatedAt",
                "UpdatedAt",
                "Body",
                "OpenSet",
                "VersionKey",
                "Backfilled",
            ],
            &[
                &id,
                &d.track.as_str(),
                &revision,
                &d.status.as_str(),
                &d.application_set,
                &d.application.clone().unwrap_or_default(),
                &d.version,
                &stage_index,
                &d.build.as_ref().map(|b| b.build_definition.clone()),
                &d.dedup_key,
                &sequence,
                &d.created_at.0,
                &d.updated_at.0,
                &json,
                &open_set,
                &version_key,
                &true,
            ],
        ),
        (false, Some(_)) => update(
            table,
            &[
                "DeploymentID",
                "Revision",
                "Status",
                "Version",
                "StageIndex",
                "UpdatedAt",
                "Body",
                "OpenSet",
                "VersionKey",
                "Backfilled",
            ],
            &[
                &id,
                &revision,
                &d.status.as_str(),
                &d.version,
                &stage_index,
                &d.updated_at.0,
                &json,
                &open_set,
                &version_key,
                &true,
            ],
        ),
    })
}

/// The stages' rows, and deletions of stored stages the deployment no longer has.
async fn stage_rows(
    tx: &mut ReadWriteTransaction,
    d: &Deployment,
    expected: Option<u64>,
    ms: &mut Vec<Mutation>,
) -> Result<(), TxError> {
    let (_, stages) = deployment_tables(d.track);
    let id = d.id.0.clone();
    if expected.is_some() {
        for row in existing_keys(tx, stages, "StageIndex", &id).await? {
            let index: i64 = row.column_by_name("StageIndex")?;
            if usize::try_from(index).map_or(true, |i| i >= d.stages.len()) {
                ms.push(delete(stages, Key::composite(&[&id, &index])));
            }
        }
    }
    for s in &d.stages {
        ms.push(insert_or_update(
            stages,
            &[
                "DeploymentID",
                "StageIndex",
                "Environments",
                "Status",
                "CommitSha",
                "RunID",
                "StartedAt",
                "FinishedAt",
            ],
            &[
                &id,
                &int(s.index)?,
                &s.environments.join(","),
                &s.status.as_str(),
                &s.commit_sha,
                &s.run_id,
                &s.started_at.map(|t| t.0),
                &s.finished_at.map(|t| t.0),
            ],
        ));
    }
    Ok(())
}

/// A release's bundle apps, and deletions of stored apps the bundle no longer has.
async fn bundle_app_rows(
    tx: &mut ReadWriteTransaction,
    d: &Deployment,
    expected: Option<u64>,
    ms: &mut Vec<Mutation>,
) -> Result<(), TxError> {
    let id = d.id.0.clone();
    if expected.is_some() {
        for row in existing_keys(tx, "ReleaseBundleApps", "AppName", &id).await? {
            let app: String = row.column_by_name("AppName")?;
            if !d.apps.contains_key(&app) {
                ms.push(delete("ReleaseBundleApps", Key::composite(&[&id, &app])));
            }
        }
    }
    for (app, a) in &d.apps {
        ms.push(insert_or_update(
            "ReleaseBundleApps",
            &[
                "DeploymentID",
                "AppName",
                "Version",
                "Image",
                "BranchCommit",
                "ProductionTag",
            ],
            &[
                &id,
                app,
                &a.version,
                &a.image,
                &a.branch_commit,
                &a.production_tag,
            ],
        ));
    }
    Ok(())
}

pub(crate) async fn put_env_version(
    tx: &mut ReadWriteTransaction,
    v: &EnvVersion,
    expected: Option<u64>,
) -> Result<(), TxError> {
    let key = Key::composite(&[&v.application, &v.environment]);
    let current = revision_of(tx, "EnvironmentVersions", key).await?;
    let matches = match (expected, current) {
        (None, None) => true,
        (Some(e), Some(c)) => int(e)? == c,
        _ => false,
    };
    if !matches {
        return Err(TxError::Conflict(format!(
            "environment version {}/{} changed since it was read",
            v.application, v.environment
        )));
    }
    tx.buffer_write(vec![insert_or_update(
        "EnvironmentVersions",
        &[
            "Application",
            "Environment",
            "Version",
            "Previous",
            "DeploymentID",
            "Track",
            "InFlight",
            "Revision",
        ],
        &[
            &v.application,
            &v.environment,
            &v.version,
            &v.previous,
            &v.deployment.0,
            &v.track.as_str(),
            &v.in_flight,
            &int(v.revision)?,
        ],
    )]);
    Ok(())
}

/// Keeps `record` under `key` unless the stored one ranks at least as high (read in the same
/// transaction, so the comparison holds at commit). `raised` holds this transaction's own
/// raises, which its reads do not see.
pub(crate) async fn raise_record(
    tx: &mut ReadWriteTransaction,
    key: &str,
    record: &Record,
    raised: &mut BTreeMap<String, String>,
) -> Result<(), TxError> {
    let stored = match raised.get(key) {
        Some(rank) => Some(rank.clone()),
        None => match tx.read_row("Records", &["Rank"], Key::new(&key)).await? {
            Some(row) => Some(row.column_by_name::<String>("Rank")?),
            None => None,
        },
    };
    if stored.is_some_and(|rank| rank >= record.rank) {
        return Ok(());
    }
    raised.insert(key.to_string(), record.rank.clone());
    let body = serde_json::to_string(&record.value).map_err(corrupt)?;
    tx.buffer_write(vec![insert_or_update(
        "Records",
        &["Key", "Rank", "Body"],
        &[&key, &record.rank, &body],
    )]);
    Ok(())
}

/// Derives the columns of migration 2 for `deployments` of `table`, written before those columns
/// existed, and raises the records they imply, in one transaction.
pub(crate) async fn backfill_in(
    tx: &mut ReadWriteTransaction,
    table: &str,
    deployments: &[Deployment],
) -> Result<(), TxError> {
    let mut ms = Vec::new();
    for d in deployments {
        let open_set = d.is_open().then(|| d.application_set.clone());
        ms.push(if d.track == DeploymentTrack::Release {
            update(
                table,
                &["DeploymentID", "OpenSet", "Backfilled"],
                &[&d.id.0, &open_set, &true],
            )
        } else {
            update(
                table,
                &["DeploymentID", "OpenSet", "VersionKey", "Backfilled"],
                &[&d.id.0, &open_set, &order_key(&d.version), &true],
            )
        });
    }
    tx.buffer_write(ms);
    let mut raised = BTreeMap::new();
    for d in deployments {
        for (key, record) in records_of(d) {
            raise_record(tx, &key, &record, &mut raised).await?;
        }
    }
    Ok(())
}

/// The next append position in `table` for `deployment`, counting this transaction's own
/// appends (buffered writes are not visible to its reads).
pub(crate) async fn next_position(
    tx: &mut ReadWriteTransaction,
    table: &str,
    deployment: &str,
    appended: &mut BTreeMap<(String, String), i64>,
) -> Result<i64, TxError> {
    let key = (table.to_string(), deployment.to_string());
    if let Some(n) = appended.get_mut(&key) {
        *n += 1;
        return Ok(*n);
    }
    let mut stmt = Statement::new(format!(
        "SELECT COALESCE(MAX(Position), -1) AS P FROM {table} WHERE DeploymentID = @id"
    ));
    stmt.add_param("id", &deployment);
    let rows = rw_rows(tx, stmt).await?;
    let last: i64 = match rows.first() {
        Some(r) => r.column_by_name("P")?,
        None => -1,
    };
    appended.insert(key, last + 1);
    Ok(last + 1)
}

pub(crate) async fn apply_in(
    tx: &mut ReadWriteTransaction,
    writes: &[StateWrite],
) -> Result<(), TxError> {
    let mut appended = BTreeMap::new();
    let mut raised = BTreeMap::new();
    for w in writes {
        match w {
            StateWrite::PutDeployment {
                deployment,
                expected_revision,
            } => put_deployment(tx, deployment, *expected_revision).await?,
            StateWrite::AppendApproval(a) => {
                let position =
                    next_position(tx, "DeploymentApprovals", &a.deployment.0, &mut appended)
                        .await?;
                // An insert: a reused approval id fails the commit (ALREADY_EXISTS).
                tx.buffer_write(vec![insert(
                    "DeploymentApprovals",
                    &[
                        "DeploymentID",
                        "ApprovalID",
                        "Position",
                        "StageIndex",
                        "Actor",
                        "Action",
                        "Timestamp",
                        "Comment",
                    ],
                    &[
                        &a.deployment.0,
                        &a.approval_id,
                        &position,
                        &int(a.stage_index)?,
                        &a.actor,
                        &a.action.as_str(),
                        &CommitTimestamp::new(),
                        &a.comment,
                    ],
                )]);
            }
            StateWrite::AppendChangelog(c) => {
                let position =
                    next_position(tx, "DeploymentChangelogs", &c.deployment.0, &mut appended)
                        .await?;
                let entry = serde_json::to_string(&c.entry).map_err(corrupt)?;
                tx.buffer_write(vec![insert(
                    "DeploymentChangelogs",
                    &["DeploymentID", "ChangelogID", "Position", "Body"],
                    &[&c.deployment.0, &c.changelog_id, &position, &entry],
                )]);
            }
            StateWrite::PutHold { environment, hold } => {
                tx.buffer_write(vec![insert_or_update(
                    "Holds",
                    &["Environment", "Reason", "Actor", "PlacedAt"],
                    &[environment, &hold.reason, &hold.actor, &hold.at.0],
                )]);
            }
            StateWrite::RemoveHold { environment } => {
                tx.buffer_write(vec![delete("Holds", Key::new(environment))]);
            }
            StateWrite::PutEnvVersion {
                value,
                expected_revision,
            } => put_env_version(tx, value, *expected_revision).await?,
            StateWrite::RaiseRecord { key, record } => {
                raise_record(tx, key, record, &mut raised).await?;
            }
        }
    }
    Ok(())
}
