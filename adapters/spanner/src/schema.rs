//! The schema on Cloud Spanner: the seed's tables with its primary keys, plus holds, environment
//! versions and the migration record. Stages and bundle apps are interleaved in their
//! deployment (read and written together, deleted with it). Approvals and changelogs are not:
//! their deployment may be in either deployment table, and an interleaved child has one parent.
//!
//! As on SQLite, each deployment row carries `Body`, the whole deployment as JSON, written in
//! the same transaction as the columns, which serve queries and operators.

/// Migrations, in order; `SchemaMigrations` records which are applied.
pub(crate) const MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE SchemaMigrations (
        Version INT64 NOT NULL,
        AppliedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
    ) PRIMARY KEY (Version)",
        "CREATE TABLE PreReleaseDeployments (
        DeploymentID STRING(MAX) NOT NULL,
        Track STRING(16) NOT NULL,
        Revision INT64 NOT NULL,
        Status STRING(32) NOT NULL,
        ApplicationSet STRING(MAX) NOT NULL,
        Application STRING(MAX) NOT NULL,
        Version STRING(MAX) NOT NULL,
        StageIndex INT64 NOT NULL,
        BuildDefinition STRING(MAX),
        DedupKey STRING(MAX),
        Sequence INT64 NOT NULL,
        CreatedAt INT64 NOT NULL,
        UpdatedAt INT64 NOT NULL,
        Body STRING(MAX) NOT NULL,
    ) PRIMARY KEY (DeploymentID)",
        "CREATE UNIQUE NULL_FILTERED INDEX PreReleaseDeploymentsByDedupKey ON PreReleaseDeployments (DedupKey)",
        "CREATE INDEX PreReleaseDeploymentsBySet ON PreReleaseDeployments (ApplicationSet)",
        "CREATE TABLE PreReleaseStages (
        DeploymentID STRING(MAX) NOT NULL,
        StageIndex INT64 NOT NULL,
        Environments STRING(MAX) NOT NULL,
        Status STRING(32) NOT NULL,
        CommitSha STRING(MAX),
        RunID STRING(MAX),
        StartedAt INT64,
        FinishedAt INT64,
    ) PRIMARY KEY (DeploymentID, StageIndex),
      INTERLEAVE IN PARENT PreReleaseDeployments ON DELETE CASCADE",
        "CREATE TABLE ReleaseDeployments (
        DeploymentID STRING(MAX) NOT NULL,
        Revision INT64 NOT NULL,
        Status STRING(32) NOT NULL,
        ApplicationSet STRING(MAX) NOT NULL,
        Bundle STRING(MAX) NOT NULL,
        Version STRING(MAX) NOT NULL,
        StageIndex INT64 NOT NULL,
        LastDeployedVersions STRING(MAX) NOT NULL,
        Sequence INT64 NOT NULL,
        CreatedAt INT64 NOT NULL,
        UpdatedAt INT64 NOT NULL,
        Body STRING(MAX) NOT NULL,
    ) PRIMARY KEY (DeploymentID)",
        "CREATE INDEX ReleaseDeploymentsBySet ON ReleaseDeployments (ApplicationSet)",
        "CREATE TABLE ReleaseStages (
        DeploymentID STRING(MAX) NOT NULL,
        StageIndex INT64 NOT NULL,
        Environments STRING(MAX) NOT NULL,
        Status STRING(32) NOT NULL,
        CommitSha STRING(MAX),
        RunID STRING(MAX),
        StartedAt INT64,
        FinishedAt INT64,
    ) PRIMARY KEY (DeploymentID, StageIndex),
      INTERLEAVE IN PARENT ReleaseDeployments ON DELETE CASCADE",
        "CREATE TABLE ReleaseBundleApps (
        DeploymentID STRING(MAX) NOT NULL,
        AppName STRING(MAX) NOT NULL,
        Version STRING(MAX) NOT NULL,
        Image STRING(MAX) NOT NULL,
        BranchCommit STRING(MAX),
        ProductionTag STRING(MAX),
    ) PRIMARY KEY (DeploymentID, AppName),
      INTERLEAVE IN PARENT ReleaseDeployments ON DELETE CASCADE",
        // The approval ledger: only ever inserted into (the adapter has no update or delete of it;
        // grant the service INSERT and SELECT only on it with fine-grained access control). The
        // timestamp is the commit's; Position keeps append order within a deployment.
        "CREATE TABLE DeploymentApprovals (
        DeploymentID STRING(MAX) NOT NULL,
        ApprovalID STRING(MAX) NOT NULL,
        Position INT64 NOT NULL,
        StageIndex INT64 NOT NULL,
        Actor STRING(MAX) NOT NULL,
        Action STRING(8) NOT NULL,
        Timestamp TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
        Comment STRING(MAX) NOT NULL,
    ) PRIMARY KEY (DeploymentID, ApprovalID)",
        "CREATE TABLE DeploymentChangelogs (
        DeploymentID STRING(MAX) NOT NULL,
        ChangelogID STRING(MAX) NOT NULL,
        Position INT64 NOT NULL,
        Body STRING(MAX) NOT NULL,
    ) PRIMARY KEY (DeploymentID, ChangelogID)",
        "CREATE TABLE Holds (
        Environment STRING(MAX) NOT NULL,
        Reason STRING(MAX) NOT NULL,
        Actor STRING(MAX) NOT NULL,
        PlacedAt INT64 NOT NULL,
    ) PRIMARY KEY (Environment)",
        "CREATE TABLE EnvironmentVersions (
        Application STRING(MAX) NOT NULL,
        Environment STRING(MAX) NOT NULL,
        Version STRING(MAX) NOT NULL,
        Previous STRING(MAX),
        DeploymentID STRING(MAX) NOT NULL,
        Track STRING(16) NOT NULL,
        InFlight BOOL NOT NULL,
        Revision INT64 NOT NULL,
    ) PRIMARY KEY (Application, Environment)",
    ],
    &[
        // A decision reads open deployments and keyed lookups, never the history (docs/
        // ARCHITECTURE.md, "What a decision reads"). OpenSet is the set of an open deployment and
        // NULL once it is closed, so its NULL_FILTERED index holds open deployments only.
        // Backfilled is NULL on rows written before these columns: the migration derives them (and
        // the records) from the bodies before it counts as applied (see admin.rs).
        "ALTER TABLE PreReleaseDeployments ADD COLUMN OpenSet STRING(MAX)",
        "ALTER TABLE PreReleaseDeployments ADD COLUMN VersionKey STRING(MAX)",
        "ALTER TABLE PreReleaseDeployments ADD COLUMN Backfilled BOOL",
        "ALTER TABLE ReleaseDeployments ADD COLUMN OpenSet STRING(MAX)",
        "ALTER TABLE ReleaseDeployments ADD COLUMN Backfilled BOOL",
        "CREATE NULL_FILTERED INDEX PreReleaseDeploymentsOpen ON PreReleaseDeployments (OpenSet)",
        "CREATE NULL_FILTERED INDEX ReleaseDeploymentsOpen ON ReleaseDeployments (OpenSet)",
        "CREATE INDEX PreReleaseDeploymentsByBuild ON PreReleaseDeployments (Application, Version)",
        "CREATE INDEX PreReleaseDeploymentsByVersionKey ON PreReleaseDeployments (Application, VersionKey)",
        "CREATE INDEX ReleaseDeploymentsByBundle ON ReleaseDeployments (ApplicationSet, Bundle)",
        // Listings for people, newest first, a page at a time.
        "CREATE INDEX PreReleaseDeploymentsNewest ON PreReleaseDeployments (CreatedAt DESC, Sequence DESC, DeploymentID DESC)",
        "CREATE INDEX ReleaseDeploymentsNewest ON ReleaseDeployments (CreatedAt DESC, Sequence DESC, DeploymentID DESC)",
        // Records only rise: a write replaces a row only with a higher Rank.
        "CREATE TABLE Records (
        Key STRING(MAX) NOT NULL,
        Rank STRING(MAX) NOT NULL,
        Body STRING(MAX) NOT NULL,
    ) PRIMARY KEY (Key)",
    ],
    &[
        // A set's deployments newest first (the API's `?applicationSet=` listings, the
        // Portal's DORA figures over releases, hotfixes and rollbacks): a page read in index
        // order, where the BySet index alone would read and sort the set's whole history.
        "CREATE INDEX PreReleaseDeploymentsNewestBySet ON PreReleaseDeployments (ApplicationSet, CreatedAt DESC, Sequence DESC, DeploymentID DESC)",
        "CREATE INDEX PreReleaseDeploymentsNewestBySetTrack ON PreReleaseDeployments (ApplicationSet, Track, CreatedAt DESC, Sequence DESC, DeploymentID DESC)",
        "CREATE INDEX ReleaseDeploymentsNewestBySet ON ReleaseDeployments (ApplicationSet, CreatedAt DESC, Sequence DESC, DeploymentID DESC)",
    ],
];

/// The table or index a `CREATE` statement makes, e.g. `TABLE Holds` or `INDEX HoldsBy`, or
/// the column an `ALTER TABLE … ADD COLUMN` adds, as `COLUMN Table.Column`.
fn object_of(statement: &str) -> Option<(&'static str, String)> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    if words.first()?.eq_ignore_ascii_case("ALTER") {
        let table = words.get(2)?;
        let column_at = words
            .iter()
            .position(|w| w.eq_ignore_ascii_case("COLUMN"))?;
        return Some(("COLUMN", format!("{table}.{}", words.get(column_at + 1)?)));
    }
    let kind_at = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("TABLE") || w.eq_ignore_ascii_case("INDEX"))?;
    let kind = if words.get(kind_at)?.eq_ignore_ascii_case("TABLE") {
        "TABLE"
    } else {
        "INDEX"
    };
    let name = words.get(kind_at + 1)?.trim_end_matches('(');
    Some((kind, name.to_string()))
}

/// Whether the object `statement` creates is already in `ddl` (the database's statements).
/// Statements that create nothing (there are none yet) never count as applied.
pub(crate) fn exists(statement: &str, ddl: &[String]) -> bool {
    let Some((kind, name)) = object_of(statement) else {
        return false;
    };
    if kind == "COLUMN" {
        // The database's DDL shows a column inside its table's CREATE statement.
        let Some((table, column)) = name.split_once('.') else {
            return false;
        };
        return ddl.iter().any(|s| {
            object_of(s).is_some_and(|(k, n)| k == "TABLE" && n == table)
                && s.lines()
                    .any(|l| l.split_whitespace().next() == Some(column))
        });
    }
    ddl.iter().any(|s| {
        object_of(s).is_some_and(|(k, n)| k == kind && n == name)
            && s.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("CREATE"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_names_what_it_creates() {
        for statement in MIGRATIONS.iter().flat_map(|m| m.iter()) {
            assert!(object_of(statement).is_some(), "{statement}");
        }
        let ddl = vec![
            "CREATE TABLE Holds (\n  Environment STRING(MAX) NOT NULL,\n) PRIMARY KEY(Environment)".to_string(),
            "CREATE UNIQUE NULL_FILTERED INDEX PreReleaseDeploymentsByDedupKey ON PreReleaseDeployments(DedupKey)".to_string(),
        ];
        assert!(exists("CREATE TABLE Holds (x INT64) PRIMARY KEY (x)", &ddl));
        assert!(exists(
            "CREATE UNIQUE NULL_FILTERED INDEX PreReleaseDeploymentsByDedupKey ON T (C)",
            &ddl
        ));
        assert!(!exists(
            "CREATE TABLE HoldsToo (x INT64) PRIMARY KEY (x)",
            &ddl
        ));
        assert!(
            !exists("CREATE INDEX Holds ON T (C)", &ddl),
            "a table is not an index"
        );
        let add = "ALTER TABLE Holds ADD COLUMN Reason STRING(MAX)";
        assert!(!exists(add, &ddl), "the column is not there yet");
        let with_column = vec![
            "CREATE TABLE Holds (\n  Environment STRING(MAX) NOT NULL,\n  Reason STRING(MAX),\n) PRIMARY KEY(Environment)".to_string(),
        ];
        assert!(exists(add, &with_column));
    }
}
