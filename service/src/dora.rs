//! The DORA figures of each application set, read from the store and computed by
//! `cd_core::dora`: the Portal's metrics page and `/metrics` show the same numbers.
//!
//! The reads are the history's own indexes: releases, hotfixes and rollbacks of the set, newest
//! first, a page at a time, back to the longest window (and a month more, for a deployment
//! created before the window that reached production inside it); then the builds those
//! releases carried, by key.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cd_core::dora::{
    DAY_MS, Figures, ProductionRun, WINDOWS, all_windows, production, production_run,
};
use cd_core::manifest::Catalog;
use cd_core::pipeline::{Deployment, DeploymentTrack, Timestamp};
use cd_ports::{DeploymentFilter, Driver, ListCursor, MAX_PAGE, StoreError};

/// How far before a window a deployment may have been created and still end in it.
const SLACK_DAYS: i64 = 30;

/// The production runs of `application_set` that can fall in the longest window before `now`.
///
/// # Errors
/// The store's error.
pub async fn runs(
    driver: &Driver,
    catalog: &Catalog,
    application_set: &str,
    now: Timestamp,
) -> Result<Vec<ProductionRun>, StoreError> {
    let production = production(catalog, application_set);
    let longest = i64::from(WINDOWS.iter().copied().max().unwrap_or(90));
    let oldest = now
        .0
        .saturating_sub((longest + SLACK_DAYS).saturating_mul(DAY_MS));
    let mut found: Vec<Deployment> = Vec::new();
    for track in [
        DeploymentTrack::Release,
        DeploymentTrack::Hotfix,
        DeploymentTrack::Rollback,
    ] {
        let mut after = None;
        loop {
            let page = driver
                .deployments(&DeploymentFilter {
                    application_set: Some(application_set.to_string()),
                    track: Some(track),
                    limit: MAX_PAGE,
                    after: after.clone(),
                    ..DeploymentFilter::default()
                })
                .await?;
            let full = page.len() == MAX_PAGE;
            let mut older = false;
            for d in page {
                if d.created_at.0 < oldest {
                    older = true;
                    break;
                }
                after = Some(ListCursor::after(&d));
                found.push(d);
            }
            if older || !full {
                break;
            }
        }
    }
    // When each change was made: the build's commit time, or when CI reported the build.
    let wanted: BTreeSet<(String, String)> = found
        .iter()
        .filter(|d| d.track == DeploymentTrack::Release)
        .flat_map(|d| d.apps.iter().map(|(a, b)| (a.clone(), b.version.clone())))
        .collect();
    let made = driver.change_times(&wanted).await?;
    Ok(found
        .iter()
        .filter_map(|d| {
            let changes = match d.track {
                DeploymentTrack::Release => d
                    .apps
                    .iter()
                    .filter(|(a, b)| {
                        // An application the release did not change is no change.
                        d.last_deployed_versions.get(*a) != Some(&b.version)
                    })
                    .filter_map(|(a, b)| made.get(&(a.clone(), b.version.clone())).copied())
                    .collect(),
                DeploymentTrack::Hotfix => d
                    .build
                    .as_ref()
                    .map(|b| b.committed_at.unwrap_or(d.created_at))
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            };
            production_run(d, &production, changes)
        })
        .collect())
}

/// Every application set's figures for every window, by set then days.
///
/// # Errors
/// The store's error.
pub async fn figures(
    driver: &Driver,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<BTreeMap<String, BTreeMap<u32, Figures>>, StoreError> {
    let mut out = BTreeMap::new();
    for set in catalog.application_sets.keys() {
        let runs = runs(driver, catalog, set, now).await?;
        out.insert(set.clone(), all_windows(&runs, now));
    }
    Ok(out)
}

/// How long `/metrics` reuses the figures it computed: a scraper (or anyone who can reach the
/// port, which `/metrics` does not authenticate) reads the history at most this often.
pub const METRICS_TTL_MS: i64 = 30_000;

/// Each set's figures by window, as `/metrics` last computed them.
pub type AllFigures = BTreeMap<String, BTreeMap<u32, Figures>>;

/// The figures `/metrics` last computed, with when.
#[derive(Debug, Default)]
pub struct Cache(tokio::sync::Mutex<Option<(Timestamp, Arc<AllFigures>)>>);

impl Cache {
    /// The figures at `now`: those computed less than [`METRICS_TTL_MS`] ago, else computed
    /// again (one computation at a time; concurrent scrapes wait for it).
    ///
    /// # Errors
    /// The store's error.
    pub async fn figures(
        &self,
        driver: &Driver,
        catalog: &Catalog,
        now: Timestamp,
    ) -> Result<Arc<AllFigures>, StoreError> {
        let mut cached = self.0.lock().await;
        if let Some((at, figures)) = cached.as_ref()
            && now.0.saturating_sub(at.0) < METRICS_TTL_MS
        {
            return Ok(figures.clone());
        }
        let figures = Arc::new(figures(driver, catalog, now).await?);
        *cached = Some((now, figures.clone()));
        Ok(figures)
    }
}
