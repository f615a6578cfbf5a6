//! A thousand promotions: build notifications for 50 applications of one tenant, sent by 8
//! concurrent clients as CI would, into one manifest repository, on the embedded defaults;
//! against 1 000 serial `git commit && git push` of a one-line change in the same run.
//!
//! Checked, not only timed: every notification ends promoted or superseded (none lost, none
//! stuck, none failed), each promotion is one commit, history is linear, and every
//! application ends on the last version sent for it.
//!
//! Reported: notification-to-push p50/p99 (the client's send time to the `time` of the
//! deployment's `stage.deploying` event, which the service writes once the promotion is
//! pushed), the drain (first notification sent to the last deployment ended) and its rate,
//! and the ratio of the drain to the serial pushes.
//!
//! Run: `cargo bench -p infrastream --bench thousand` (NOTIFICATIONS=n, APPS=n, CLIENTS=n).
//! Recorded results: docs/PERFORMANCE.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

mod common;
use common::{env_usize, git, percentile, push_builds, raw_git, serve};

/// How long the bench waits for every deployment to end.
const WAIT: Duration = Duration::from_secs(600);

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// The example tenant with its three applications, and `apps - 3` more made from
/// shop-worker's manifests under the names `app-NN`, all in the `shop` application set.
fn tenant(dir: &Path, apps: usize) -> Vec<String> {
    let mut names = vec![
        "shop-api".to_string(),
        "shop-web".to_string(),
        "shop-worker".to_string(),
    ];
    let files = cd_service::tenant::example_files();
    for (path, text) in &files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    for n in names.len()..apps {
        let name = format!("app-{n:02}");
        for (path, text) in &files {
            if let Some(rest) = path.strip_prefix("apps/shop-worker/") {
                let full = dir.join("apps").join(&name).join(rest);
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(full, text.replace("shop-worker", &name)).unwrap();
            }
        }
        names.push(name);
    }
    names
}

/// The events the service wrote so far: (type, deployment, time in ms, data).
fn events(file: &Path) -> Vec<(String, String, f64, Value)> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["subject"].as_str().unwrap_or_default().to_string(),
                e["time"].as_str().map_or(0.0, rfc3339_ms),
                e["data"].clone(),
            )
        })
        .collect()
}

/// An RFC 3339 time (CloudEvents' `time`) in ms since the epoch.
fn rfc3339_ms(text: &str) -> f64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_or(0.0, |t| (t.unix_timestamp_nanos() / 1_000_000) as f64)
}

/// The final status a deployment event announces: a `deployment.*` event whose status never
/// changes again (a deployment superseded on arrival is created so, with no later event).
fn final_status(event: &(String, String, f64, Value)) -> Option<&'static str> {
    if !event.0.starts_with("dev.infrastream.deployment.") {
        return None;
    }
    ["SUCCEEDED", "SUPERSEDED", "FAILED", "CANCELLED"]
        .into_iter()
        .find(|s| event.3["status"] == *s)
}

/// Sends `count` notifications from `clients` concurrent clients: notification `i` is build
/// `i / apps + 1` of application `i % apps`. Returns each deployment's send time (ms since the
/// epoch), application and version.
async fn send(
    url: &str,
    names: &[String],
    count: usize,
    clients: usize,
) -> BTreeMap<String, (f64, String, u64)> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(BTreeMap::new()));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, next, sent) =
            (client.clone(), url.to_string(), next.clone(), sent.clone());
        let names = names.to_vec();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= count {
                    return;
                }
                let app = &names[i % names.len()];
                let build = (i / names.len() + 1) as u64;
                let at = now_ms();
                let resp = client
                    .post(format!("{url}/v1/notifications/build"))
                    .json(&json!({
                        "buildDefinitionId": app, "container": app,
                        "version": format!("v1.{build}.0"),
                        "commitSha": format!("{i:040x}"), "repository": app,
                    }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 202, "notification {i}");
                let answer: Value = resp.json().await.unwrap();
                let id = answer["deployments"][0].as_str().unwrap().to_string();
                sent.lock().unwrap().insert(id, (at, app.clone(), build));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    std::mem::take(&mut *sent.lock().unwrap())
}

fn main() {
    let count = env_usize("NOTIFICATIONS", 1000);
    let apps = env_usize("APPS", 50);
    let clients = env_usize("CLIENTS", 8);
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("tenant");
    let names = tenant(&manifests, apps);
    let data = tmp.path().join("svc");
    let (served, url) = serve(&data, Some(&manifests));
    let apps_named: Vec<&str> = names.iter().map(String::as_str).collect();
    push_builds(&data, &apps_named, count / names.len() + 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let start = now_ms();
    let sent = rt.block_on(send(&url, &names, count, clients));
    let accepted = now_ms() - start;
    assert_eq!(sent.len(), count, "one deployment per notification");
    // Wait until every deployment has ended (a burst mostly supersedes itself).
    let log = data.join("events.jsonl");
    let deadline = Instant::now() + WAIT;
    let (all, drained) = loop {
        let all = events(&log);
        let ended: BTreeSet<&str> = all
            .iter()
            .filter(|e| final_status(e).is_some())
            .map(|(_, d, ..)| d.as_str())
            .collect();
        if sent.keys().all(|d| ended.contains(d.as_str())) {
            // Seen within one poll (50 ms) of the last event written.
            break (all, now_ms() - start);
        }
        if Instant::now() >= deadline {
            let open: Vec<&String> = sent
                .keys()
                .filter(|d| !ended.contains(d.as_str()))
                .take(5)
                .collect();
            panic!(
                "{} of {count} deployments had not ended after {} s, such as {open:?}",
                count - ended.len().min(count),
                WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(served);

    // What became of each notification.
    let mut pushed = Vec::new();
    let mut outcome: BTreeMap<&str, usize> = BTreeMap::new();
    for (t, d, at, _) in &all {
        let Some((sent_at, ..)) = sent.get(d) else {
            continue;
        };
        if t == "dev.infrastream.stage.deploying" {
            pushed.push(at - sent_at);
        }
    }
    for e in &all {
        if sent.contains_key(&e.1)
            && let Some(status) = final_status(e)
        {
            *outcome.entry(status).or_default() += 1;
        }
    }
    let promoted_or_superseded = outcome.get("SUCCEEDED").copied().unwrap_or(0)
        + outcome.get("SUPERSEDED").copied().unwrap_or(0);
    assert_eq!(
        promoted_or_superseded, count,
        "every deployment ends promoted or superseded, once: {outcome:?}"
    );
    pushed.sort_by(f64::total_cmp);

    // The repository: linear, one commit per promotion, each application on its last version.
    let bare = data.join("manifests.git");
    let merges = git(&bare, &["rev-list", "--merges", "--count", "main"]);
    assert_eq!(merges.trim(), "0", "history is linear");
    let promotions = git(&bare, &["log", "--format=%B", "main"])
        .matches("Infrastream-Deployment:")
        .count();
    assert_eq!(promotions, pushed.len(), "one commit per promotion");
    let last_build = count.div_ceil(names.len());
    for (k, name) in names.iter().enumerate() {
        let Some(newest) = (0..count)
            .filter(|i| i % names.len() == k)
            .map(|i| i / names.len() + 1)
            .max()
        else {
            continue;
        };
        let file = git(
            &bare,
            &["show", &format!("main:apps/{name}/deploy/development.yaml")],
        );
        assert!(
            file.contains(&format!("v1.{newest}.0")),
            "{name} ends on v1.{newest}.0 (of {last_build}):\n{file}"
        );
    }

    let files = cd_service::tenant::read_tree(&manifests).unwrap();
    let raw = raw_git(tmp.path(), &files, count);
    let raw_total: f64 = raw.iter().sum();
    let mut raw_sorted = raw.clone();
    raw_sorted.sort_by(f64::total_cmp);

    println!(
        "{count} notifications for {} applications, {clients} clients, embedded defaults",
        names.len()
    );
    println!(
        "accepted in {:.2} s ({:.0}/s); outcomes: {outcome:?}",
        accepted / 1000.0,
        count as f64 * 1000.0 / accepted
    );
    println!(
        "promotions pushed: {} commits; notification-to-push p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        pushed.len(),
        percentile(&pushed, 0.5),
        percentile(&pushed, 0.99),
        pushed.last().copied().unwrap_or_default()
    );
    println!(
        "drained (first sent to last ended) in {:.2} s: {:.0} notifications/s, {:.1} pushes/s",
        drained / 1000.0,
        count as f64 * 1000.0 / drained,
        pushed.len() as f64 * 1000.0 / drained
    );
    println!(
        "{count} serial git commit+push: {:.2} s (p50 {:.1} ms, p99 {:.1} ms)",
        raw_total / 1000.0,
        percentile(&raw_sorted, 0.5),
        percentile(&raw_sorted, 0.99)
    );
    println!("drain / serial git: {:.2}x", drained / raw_total);
}
