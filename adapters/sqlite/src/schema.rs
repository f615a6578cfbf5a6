//! The schema: the seed's tables, plus holds and environment versions, as versioned migrations.
//!
//! Hotfix and rollback deployments live in `PreReleaseDeployments` (one application each), told
//! apart by `Track`. Each deployment row also carries `Body`, the whole deployment as JSON (its
//! outbox, observed tags, phase, ...), written in the same transaction as the columns: the columns
//! serve queries and operators, the body is what the pipeline reads back.

/// Migrations, in order. `PRAGMA user_version` records how many have been applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE PreReleaseDeployments (
    DeploymentID    TEXT PRIMARY KEY,
    Track           TEXT NOT NULL CHECK (Track IN ('PRERELEASE', 'HOTFIX', 'ROLLBACK')),
    Revision        INTEGER NOT NULL,
    Status          TEXT NOT NULL,
    ApplicationSet  TEXT NOT NULL,
    Application     TEXT NOT NULL,
    Version         TEXT NOT NULL,
    StageIndex      INTEGER NOT NULL,
    BuildDefinition TEXT,
    DedupKey        TEXT UNIQUE,
    Sequence        INTEGER NOT NULL,
    CreatedAt       INTEGER NOT NULL,
    UpdatedAt       INTEGER NOT NULL,
    Body            TEXT NOT NULL
);
CREATE INDEX PreReleaseDeploymentsBySet ON PreReleaseDeployments (ApplicationSet);

CREATE TABLE PreReleaseStages (
    DeploymentID TEXT NOT NULL REFERENCES PreReleaseDeployments (DeploymentID),
    StageIndex   INTEGER NOT NULL,
    Environments TEXT NOT NULL,
    Status       TEXT NOT NULL,
    CommitSha    TEXT,
    RunID        TEXT,
    StartedAt    INTEGER,
    FinishedAt   INTEGER,
    PRIMARY KEY (DeploymentID, StageIndex)
);

CREATE TABLE ReleaseDeployments (
    DeploymentID         TEXT PRIMARY KEY,
    Revision             INTEGER NOT NULL,
    Status               TEXT NOT NULL,
    ApplicationSet       TEXT NOT NULL,
    Bundle               TEXT NOT NULL,
    Version              TEXT NOT NULL,
    StageIndex           INTEGER NOT NULL,
    LastDeployedVersions TEXT NOT NULL,
    Sequence             INTEGER NOT NULL,
    CreatedAt            INTEGER NOT NULL,
    UpdatedAt            INTEGER NOT NULL,
    Body                 TEXT NOT NULL
);
CREATE INDEX ReleaseDeploymentsBySet ON ReleaseDeployments (ApplicationSet);

CREATE TABLE ReleaseStages (
    DeploymentID TEXT NOT NULL REFERENCES ReleaseDeployments (DeploymentID),
    StageIndex   INTEGER NOT NULL,
    Environments TEXT NOT NULL,
    Status       TEXT NOT NULL,
    CommitSha    TEXT,
    RunID        TEXT,
    StartedAt    INTEGER,
    FinishedAt   INTEGER,
    PRIMARY KEY (DeploymentID, StageIndex)
);

CREATE TABLE ReleaseBundleApps (
    DeploymentID  TEXT NOT NULL REFERENCES ReleaseDeployments (DeploymentID),
    AppName       TEXT NOT NULL,
    Version       TEXT NOT NULL,
    Image         TEXT NOT NULL,
    BranchCommit  TEXT,
    ProductionTag TEXT,
    PRIMARY KEY (DeploymentID, AppName)
);

-- The approval ledger: rows are only ever inserted (rowid keeps the order).
CREATE TABLE DeploymentApprovals (
    DeploymentID TEXT NOT NULL,
    ApprovalID   TEXT NOT NULL,
    StageIndex   INTEGER NOT NULL,
    Actor        TEXT NOT NULL,
    Action       TEXT NOT NULL CHECK (Action IN ('APPROVE', 'REJECT')),
    Timestamp    INTEGER NOT NULL,
    Comment      TEXT NOT NULL,
    PRIMARY KEY (DeploymentID, ApprovalID)
);
CREATE TRIGGER DeploymentApprovalsNoUpdate BEFORE UPDATE ON DeploymentApprovals
BEGIN
    SELECT RAISE(ABORT, 'DeploymentApprovals is append-only');
END;
CREATE TRIGGER DeploymentApprovalsNoDelete BEFORE DELETE ON DeploymentApprovals
BEGIN
    SELECT RAISE(ABORT, 'DeploymentApprovals is append-only');
END;

CREATE TABLE DeploymentChangelogs (
    DeploymentID TEXT NOT NULL,
    ChangelogID  TEXT NOT NULL,
    Body         TEXT NOT NULL,
    PRIMARY KEY (DeploymentID, ChangelogID)
);

CREATE TABLE Holds (
    Environment TEXT PRIMARY KEY,
    Reason      TEXT NOT NULL,
    Actor       TEXT NOT NULL,
    At          INTEGER NOT NULL
);

CREATE TABLE EnvironmentVersions (
    Application  TEXT NOT NULL,
    Environment  TEXT NOT NULL,
    Version      TEXT NOT NULL,
    Previous     TEXT,
    DeploymentID TEXT NOT NULL,
    Track        TEXT NOT NULL,
    InFlight     INTEGER NOT NULL,
    Revision     INTEGER NOT NULL,
    PRIMARY KEY (Application, Environment)
);
",
    r"
-- A decision reads open deployments and keyed lookups, never the history (docs/ARCHITECTURE.md,
-- 'What a decision reads'). Open and VersionKey are derived from the body when a row is written;
-- rows written before this migration get them from the backfill that runs at every start until
-- none is left (cd_sqlite::backfill), which also builds Records.
ALTER TABLE PreReleaseDeployments ADD COLUMN Open INTEGER;
ALTER TABLE PreReleaseDeployments ADD COLUMN VersionKey TEXT;
ALTER TABLE ReleaseDeployments ADD COLUMN Open INTEGER;
CREATE INDEX PreReleaseDeploymentsOpen ON PreReleaseDeployments (ApplicationSet) WHERE Open = 1;
CREATE INDEX ReleaseDeploymentsOpen ON ReleaseDeployments (ApplicationSet) WHERE Open = 1;
CREATE INDEX PreReleaseDeploymentsToBackfill ON PreReleaseDeployments (DeploymentID) WHERE Open IS NULL;
CREATE INDEX ReleaseDeploymentsToBackfill ON ReleaseDeployments (DeploymentID) WHERE Open IS NULL;
CREATE INDEX PreReleaseDeploymentsByBuild ON PreReleaseDeployments (Application, Version);
CREATE INDEX PreReleaseDeploymentsByVersionKey ON PreReleaseDeployments (Application, VersionKey);
CREATE INDEX ReleaseDeploymentsByBundle ON ReleaseDeployments (ApplicationSet, Bundle);
-- Listings for people, newest first, a page at a time.
CREATE INDEX PreReleaseDeploymentsNewest ON PreReleaseDeployments (CreatedAt, Sequence, DeploymentID);
CREATE INDEX ReleaseDeploymentsNewest ON ReleaseDeployments (CreatedAt, Sequence, DeploymentID);
CREATE INDEX PreReleaseDeploymentsNewestBySet ON PreReleaseDeployments (ApplicationSet, CreatedAt, Sequence, DeploymentID);
CREATE INDEX ReleaseDeploymentsNewestBySet ON ReleaseDeployments (ApplicationSet, CreatedAt, Sequence, DeploymentID);

-- Records only rise: a write replaces a row only with a higher Rank (cd_core::pipeline::records).
CREATE TABLE Records (
    Key  TEXT PRIMARY KEY,
    Rank TEXT NOT NULL,
    Body TEXT NOT NULL
);
",
    r"
-- The ledger records cancels too (cd_core::pipeline::Input::CancelRequested). SQLite cannot
-- change a CHECK in place: the table is copied, in ledger order, and its guards made again.
CREATE TABLE DeploymentApprovalsNext (
    DeploymentID TEXT NOT NULL,
    ApprovalID   TEXT NOT NULL,
    StageIndex   INTEGER NOT NULL,
    Actor        TEXT NOT NULL,
    Action       TEXT NOT NULL CHECK (Action IN ('APPROVE', 'REJECT', 'CANCEL')),
    Timestamp    INTEGER NOT NULL,
    Comment      TEXT NOT NULL,
    PRIMARY KEY (DeploymentID, ApprovalID)
);
INSERT INTO DeploymentApprovalsNext
    SELECT DeploymentID, ApprovalID, StageIndex, Actor, Action, Timestamp, Comment
    FROM DeploymentApprovals ORDER BY rowid;
DROP TRIGGER DeploymentApprovalsNoUpdate;
DROP TRIGGER DeploymentApprovalsNoDelete;
DROP TABLE DeploymentApprovals;
ALTER TABLE DeploymentApprovalsNext RENAME TO DeploymentApprovals;
CREATE TRIGGER DeploymentApprovalsNoUpdate BEFORE UPDATE ON DeploymentApprovals
BEGIN
    SELECT RAISE(ABORT, 'DeploymentApprovals is append-only');
END;
CREATE TRIGGER DeploymentApprovalsNoDelete BEFORE DELETE ON DeploymentApprovals
BEGIN
    SELECT RAISE(ABORT, 'DeploymentApprovals is append-only');
END;
",
    r"
-- Hotfixes and rollbacks of a set, newest first (the DORA figures, `?track=` listings),
-- without walking the set's builds.
CREATE INDEX PreReleaseDeploymentsNewestBySetTrack
    ON PreReleaseDeployments (ApplicationSet, Track, CreatedAt, Sequence, DeploymentID);
",
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn the_ledger_keeps_its_rows_in_order_and_its_guards_when_it_learns_cancel() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        for (id, action) in [("a3", "REJECT"), ("a1", "APPROVE"), ("a2", "APPROVE")] {
            conn.execute(
                "INSERT INTO DeploymentApprovals VALUES ('d1', ?1, 1, 'jane', ?2, 5, '')",
                [id, action],
            )
            .unwrap();
        }
        let cancel =
            "INSERT INTO DeploymentApprovals VALUES ('d1', 'a4', 1, 'jane', 'CANCEL', 6, 'no')";
        assert!(
            conn.execute(cancel, []).is_err(),
            "not before the migration"
        );
        conn.execute_batch(MIGRATIONS[2]).unwrap();
        conn.execute(cancel, []).unwrap();
        let order: Vec<String> = conn
            .prepare("SELECT ApprovalID FROM DeploymentApprovals ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(order, ["a3", "a1", "a2", "a4"], "ledger order kept");
        let update = conn.execute("UPDATE DeploymentApprovals SET Comment = 'x'", []);
        assert!(update.unwrap_err().to_string().contains("append-only"));
        let delete = conn.execute("DELETE FROM DeploymentApprovals", []);
        assert!(delete.unwrap_err().to_string().contains("append-only"));
    }
}
