//! `/metrics` reuses the DORA figures it computed for [`METRICS_TTL_MS`]: an unauthenticated
//! scraper reads the history at most that often, and sees new figures after it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use cd_core::dora::DAY_MS;
use cd_core::pipeline::{
    Deployment, DeploymentId, DeploymentStatus, DeploymentTrack, StageRecord, StageStatus,
    StateWrite, Timestamp,
};
use cd_ports::Store as _;
use cd_service::dora::{Cache, METRICS_TTL_MS};
use tower::ServiceExt as _;

use crate::robust::app;

/// A release of `shop` that reached production at `at`.
fn released(at: i64) -> Deployment {
    let stage = |index: usize, env: &str| StageRecord {
        index,
        environments: vec![env.into()],
        approval: None,
        status: StageStatus::Succeeded,
        commit_sha: Some(format!("c{index}")),
        run_id: None,
        started_at: Some(Timestamp(at - 1_000)),
        finished_at: Some(Timestamp(at)),
        deadline: None,
        message: None,
    };
    Deployment {
        id: DeploymentId("r1".into()),
        revision: 1,
        track: DeploymentTrack::Release,
        status: DeploymentStatus::Succeeded,
        application_set: "shop".into(),
        application: None,
        bundle: Some("2026.12".into()),
        version: "shop-2026.12-rc.0".into(),
        apps: BTreeMap::new(),
        phase: None,
        observed_tags: BTreeMap::new(),
        stages: vec![stage(0, "staging"), stage(1, "production")],
        current_stage: 1,
        build: None,
        dedup_key: None,
        requested_by: Some("jane".into()),
        authors: vec![],
        last_deployed_versions: BTreeMap::new(),
        outbox: vec![],
        parked: None,
        undelivered_events: 0,
        events_emitted: 0,
        reason: None,
        created_at: Timestamp(at - 60_000),
        updated_at: Timestamp(at),
        sequence: 1,
    }
}

#[tokio::test]
async fn the_dora_figures_are_reused_for_thirty_seconds_then_read_again() {
    let app = app();
    let catalog = app.driver.catalog_or_last_valid().await.unwrap();
    let cache = Cache::default();
    let now = 100 * DAY_MS;
    let first = cache
        .figures(&app.driver, &catalog, Timestamp(now))
        .await
        .unwrap();
    assert_eq!(first["shop"][&7].deployments, 0);

    // A release reaches production (written beside the service, as another replica would).
    let store = cd_sqlite::SqliteStore::open(&app.dir.path().join("state.db")).unwrap();
    store
        .apply(&[StateWrite::PutDeployment {
            deployment: Box::new(released(now)),
            expected_revision: None,
        }])
        .await
        .unwrap();

    let within = cache
        .figures(&app.driver, &catalog, Timestamp(now + METRICS_TTL_MS - 1))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first, &within), "reused within the window");
    assert_eq!(within["shop"][&7].deployments, 0);
    let after = cache
        .figures(&app.driver, &catalog, Timestamp(now + METRICS_TTL_MS))
        .await
        .unwrap();
    assert_eq!(after["shop"][&7].deployments, 1, "read again after it");
    // The next window starts at that read.
    let again = cache
        .figures(
            &app.driver,
            &catalog,
            Timestamp(now + 2 * METRICS_TTL_MS - 1),
        )
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&after, &again));
}

#[tokio::test]
async fn metrics_answers_from_that_cache() {
    let app = app();
    let scrape = || {
        let router = app.router.clone();
        async move {
            let response = router
                .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
                .await
                .unwrap();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        }
    };
    let line = "infrastream_dora_deployments{application_set=\"shop\",window=\"7d\"}";
    let first = scrape().await;
    assert!(first.contains(&format!("{line} 0")), "{first}");
    let store = cd_sqlite::SqliteStore::open(&app.dir.path().join("state.db")).unwrap();
    store
        .apply(&[StateWrite::PutDeployment {
            deployment: Box::new(released(app.driver.now().0)),
            expected_revision: None,
        }])
        .await
        .unwrap();
    // Well within the 30 s: the figures of the first scrape, not a read of the history.
    let second = scrape().await;
    assert!(second.contains(&format!("{line} 0")), "{second}");
}
