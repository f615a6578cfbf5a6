//! The four DORA figures of an application set over a window of days, from its deployments:
//! pure, so the Portal's charts and `/metrics` say the same thing and tests can pin it.
//!
//! Definitions (docs/PORTAL.md says them to people):
//! - **Production** is the environments of the last release stage of the set's track.
//! - A **production deployment** is a release, hotfix or rollback whose stage on those
//!   environments ended in the window; it **succeeded** or **failed** with that stage.
//! - **Deployment frequency**: production deployments that succeeded, in the window.
//! - **Lead time for changes**: for each application a succeeded release or hotfix carried,
//!   from the time of its build's commit (or, when CI did not say, when CI reported the build)
//!   to the end of the production stage; the median.
//! - **Change failure rate**: of the releases and hotfixes that reached production (rollbacks
//!   restore, they are not changes), the share that failed there or were followed by a
//!   rollback or hotfix into production before the next release.
//! - **Time to restore**: for each such failure, from when it failed (the production stage's
//!   end, or the next deployment's start for a change undone later) to the end of the next
//!   production deployment that succeeded; the median.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::manifest::{Catalog, Track};
use crate::pipeline::{Deployment, DeploymentTrack, StageStatus, Timestamp};

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// The windows the Portal shows, in days.
pub const WINDOWS: [u32; 3] = [7, 30, 90];

/// One production deployment, as the figures need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductionRun {
    /// Which road it took.
    pub track: DeploymentTrack,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its production stage ended.
    pub ended_at: Timestamp,
    /// Whether that stage succeeded.
    pub succeeded: bool,
    /// When each change it carried was made (its build's commit, or the build's report).
    pub changes: Vec<Timestamp>,
}

/// The figures of one application set over one window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    /// The window, in days.
    pub days: u32,
    /// Succeeded production deployments.
    pub deployments: u32,
    /// Succeeded production deployments per day of the window, oldest day first.
    pub per_day: Vec<u32>,
    /// Median lead time for changes, in milliseconds, when any change reached production.
    pub lead_time_ms: Option<i64>,
    /// Releases and hotfixes that reached production.
    pub changes: u32,
    /// Of those, the ones that failed or were undone.
    pub failed_changes: u32,
    /// Median time to restore, in milliseconds, when any failure was restored.
    pub restore_ms: Option<i64>,
}

impl Figures {
    /// `failed_changes / changes`, when there were changes.
    #[must_use]
    pub fn change_failure_rate(&self) -> Option<f64> {
        (self.changes > 0).then(|| f64::from(self.failed_changes) / f64::from(self.changes))
    }
}

/// The environments of the last release stage of `application_set`'s track: production.
#[must_use]
pub fn production(catalog: &Catalog, application_set: &str) -> Vec<String> {
    catalog
        .application_sets
        .get(application_set)
        .and_then(|s| catalog.release_tracks.get(&s.release_track))
        .and_then(|t| t.stages(Track::Release).last())
        .map(|s| s.environments.clone())
        .unwrap_or_default()
}

/// `d`'s production run, when it is a release, hotfix or rollback whose stage on
/// `production` ended. `changes` are the times of the changes it carried.
#[must_use]
pub fn production_run(
    d: &Deployment,
    production: &[String],
    changes: Vec<Timestamp>,
) -> Option<ProductionRun> {
    if d.track == DeploymentTrack::PreRelease || production.is_empty() {
        return None;
    }
    let stage = d
        .stages
        .iter()
        .find(|s| s.environments.iter().any(|e| production.contains(e)))?;
    let succeeded = match stage.status {
        StageStatus::Succeeded => true,
        StageStatus::Failed => false,
        _ => return None,
    };
    Some(ProductionRun {
        track: d.track,
        created_at: d.created_at,
        ended_at: stage.finished_at?,
        succeeded,
        changes,
    })
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => values.get(n / 2).copied(),
        _ => Some((values.get(n / 2 - 1)? + values.get(n / 2)?) / 2),
    }
}

/// The figures over the `days` days before `now`, from `runs` (any order; runs outside the
/// window count only as what restores a failure inside it).
#[must_use]
pub fn figures(runs: &[ProductionRun], now: Timestamp, days: u32) -> Figures {
    let start = now.0.saturating_sub(i64::from(days).saturating_mul(DAY_MS));
    let mut runs: Vec<&ProductionRun> = runs.iter().collect();
    runs.sort_by_key(|r| (r.ended_at, r.created_at));
    let inside = |r: &&&ProductionRun| r.ended_at.0 >= start && r.ended_at <= now;

    let mut per_day = vec![0u32; days as usize];
    let mut deployments = 0u32;
    let mut leads = Vec::new();
    for r in runs.iter().filter(inside).filter(|r| r.succeeded) {
        deployments += 1;
        let last = per_day.len().saturating_sub(1);
        let day = usize::try_from((r.ended_at.0 - start) / DAY_MS).unwrap_or(0);
        if let Some(slot) = per_day.get_mut(day.min(last)) {
            *slot += 1;
        }
        if r.track != DeploymentTrack::Rollback {
            leads.extend(
                r.changes
                    .iter()
                    .map(|c| r.ended_at.0.saturating_sub(c.0).max(0)),
            );
        }
    }

    let mut changes = 0u32;
    let mut failed_changes = 0u32;
    let mut restores = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        if r.track == DeploymentTrack::Rollback || !inside(&r) {
            continue;
        }
        changes += 1;
        let later = runs.get(i + 1..).unwrap_or_default();
        // When it failed: at once, or when a rollback or hotfix went out to undo it.
        let failed_at = if r.succeeded {
            later
                .iter()
                .take_while(|n| n.track != DeploymentTrack::Release)
                .find(|n| matches!(n.track, DeploymentTrack::Rollback | DeploymentTrack::Hotfix))
                .map(|n| n.created_at.max(r.ended_at))
        } else {
            Some(r.ended_at)
        };
        let Some(failed_at) = failed_at else { continue };
        failed_changes += 1;
        if let Some(fixed) = later
            .iter()
            .find(|n| n.succeeded && n.ended_at >= failed_at)
        {
            restores.push(fixed.ended_at.0 - failed_at.0);
        }
    }
    Figures {
        days,
        deployments,
        per_day,
        lead_time_ms: median(leads),
        changes,
        failed_changes,
        restore_ms: median(restores),
    }
}

/// Each window's figures, by days.
#[must_use]
pub fn all_windows(runs: &[ProductionRun], now: Timestamp) -> BTreeMap<u32, Figures> {
    WINDOWS
        .iter()
        .map(|&days| (days, figures(runs, now, days)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(track: DeploymentTrack, day: i64, ok: bool, change_day: Option<i64>) -> ProductionRun {
        ProductionRun {
            track,
            created_at: Timestamp(day * DAY_MS - 3_600_000),
            ended_at: Timestamp(day * DAY_MS),
            succeeded: ok,
            changes: change_day
                .map(|d| Timestamp(d * DAY_MS))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn the_four_figures_follow_their_definitions() {
        use DeploymentTrack::{Hotfix, Release, Rollback};
        let now = Timestamp(100 * DAY_MS);
        let runs = vec![
            // Day 91: a release, its change made on day 89.
            run(Release, 91, true, Some(89)),
            // Day 93: a release that failed in production; restored by the hotfix of day 94.
            run(Release, 93, false, Some(92)),
            run(Hotfix, 94, true, Some(93)),
            // Day 96: a release that went out, then a rollback on day 97 undid it.
            run(Release, 96, true, Some(95)),
            run(Rollback, 97, true, None),
            // Long ago: outside every window.
            run(Release, 5, true, Some(4)),
        ];
        let f = figures(&runs, now, 7);
        // Succeeded in production in the 7 days (days 93..100): the hotfix, the release of
        // day 96 and the rollback.
        assert_eq!(f.deployments, 3);
        assert_eq!(f.per_day.iter().sum::<u32>(), 3);
        assert_eq!(f.per_day.len(), 7);
        // Changes: the releases of days 93 and 96 and the hotfix; two failed (one at once,
        // one undone).
        assert_eq!((f.changes, f.failed_changes), (3, 2));
        assert_eq!(f.change_failure_rate(), Some(2.0 / 3.0));
        // Lead times: the hotfix 1 day, the release of day 96 1 day.
        assert_eq!(f.lead_time_ms, Some(DAY_MS));
        // Restores: day 93 -> day 94 (1 day); the rollback, created an hour before day 97
        // ends, restored at its end (1 hour).
        assert_eq!(f.restore_ms, Some((DAY_MS + 3_600_000) / 2));
        let f = figures(&runs, now, 90);
        assert_eq!(f.deployments, 4, "the release of day 91 too");
        assert_eq!(f.lead_time_ms, Some(DAY_MS), "median of 2, 1, 1 days");
        let empty = figures(&[], now, 30);
        assert_eq!(
            (
                empty.deployments,
                empty.lead_time_ms,
                empty.change_failure_rate()
            ),
            (0, None, None)
        );
    }
}
