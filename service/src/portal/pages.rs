//! The pages. Each handler finds the viewer, reads what it shows through the driver's reads
//! (made for them: the open deployments, one deployment, the waiting gates, the holds), and
//! renders with maud, which escapes every value.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cd_core::pipeline::{
    ApprovalRecord, Deployment, DeploymentId, GateNeeds, Timestamp, Viewer as Verdict, awaits,
    gate_needs,
};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::overview::{self, duration};
use super::{PageQuery, Refusal, Viewer, html as page, viewer};
use crate::service::Shared;

/// A time as people read it: RFC 3339 to the second, in UTC.
fn at(t: Timestamp) -> String {
    let text = t.rfc3339();
    // `2026-12-04T21:04:24.123Z` -> `2026-12-04 21:04:24Z`
    match (text.get(..10), text.get(11..19)) {
        (Some(day), Some(time)) => format!("{day} {time}Z"),
        _ => text,
    }
}

/// A table's caption and header row: every column header is a `th` of `scope="col"`, which
/// screen readers announce with each cell.
fn head(caption: &str, columns: &[&str]) -> Markup {
    html! {
        caption { (caption) }
        thead { tr { @for c in columns { th scope="col" { (c) } } } }
    }
}

/// A status as a badge, its class naming its kind (the stylesheet colours them).
fn badge(status: &str) -> Markup {
    let kind = match status {
        "SUCCEEDED" => "ok",
        "FAILED" | "REJECTED" => "bad",
        "AWAITING_APPROVAL" | "HELD" => "wait",
        "CANCELLED" | "SUPERSEDED" => "off",
        _ => "busy",
    };
    html! { span class={ "badge " (kind) } { (status) } }
}

/// The frame of every page: the navigation, who is signed in, and the live-update script.
fn layout(title: &str, viewer: Option<&Viewer>, live: bool, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Infrastream CD" }
                link rel="stylesheet" href="/assets/portal.css";
                @if live {
                    script src="/assets/live.js" defer {}
                }
            }
            body {
                header {
                    nav aria-label="Portal" {
                        a.brand href="/" { "Infrastream CD" }
                        @if viewer.is_some() {
                            a href="/" { "Overview" }
                            a href="/approvals" { "Approvals" }
                            a href="/holds" { "Holds" }
                            a href="/releases/new" { "Release" }
                            a href="/dora" { "DORA" }
                        }
                    }
                    @if let Some(v) = viewer {
                        form.signout method="post" action="/sign-out" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            span { "Signed in as " strong { (v.person()) } }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" data-live=(if live { "on" } else { "off" }) {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The page answered for a refused request.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    layout(
        title,
        None,
        false,
        &html! {
            p.error role="alert" { (message) " (" (status.as_u16()) ")" }
            p { a href="/" { "Back to the overview" } }
        },
    )
}

/// `/`: every application set as applications by environments, with what is in flight.
pub(crate) async fn overview(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let v = viewer(&shared, &headers, "/").await?;
    let catalog = &*v.catalog;
    let state = shared
        .driver
        .open_state()
        .await
        .map_err(crate::api::ApiError::from_store)?;
    let now = shared.driver.now();
    let sets = overview::matrices(catalog, &state, now);
    let body = html! {
        @if sets.is_empty() {
            p { "The manifests declare no application set yet." }
        }
        @for set in &sets {
            section aria-labelledby={ "set-" (set.name) } {
                h2 id={ "set-" (set.name) } { "Application set " (set.name) }
                p { a href={ "/releases/new?set=" (set.name) } { "Start a release of " (set.name) } }
                table.matrix {
                    caption { "Versions of " (set.name) " by environment" }
                    thead { tr {
                        th scope="col" { "Application" }
                        @for env in &set.environments {
                            th scope="col" {
                                (env)
                                @if let Some(hold) = state.holds.get(env) {
                                    " " span.badge.wait title=(hold.reason) { "HELD" }
                                }
                            }
                        }
                    } }
                    tbody {
                        @for (app, cells) in &set.rows {
                            tr {
                                th scope="row" { (app) }
                                @for cell in cells {
                                    td {
                                        @match &cell.version {
                                            Some(version) => code { (version) },
                                            None => span.muted { "—" },
                                        }
                                        @if let Some((version, id)) = &cell.arriving {
                                            br;
                                            a href={ "/deployments/" (id) } { "→ " (version) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                h3 { "In flight" }
                @if set.in_flight.is_empty() {
                    p.muted { "Nothing in flight." }
                } @else {
                    table {
                        (head(
                            &format!("Open deployments of {}, newest first", set.name),
                            &[
                                "Deployment", "Track", "What", "Version", "Status", "Stage",
                                "Waiting"
                            ],
                        ))
                        tbody {
                            @for d in &set.in_flight {
                                tr {
                                    td { a href={ "/deployments/" (d.id) } { (d.id) } }
                                    td { (d.track) }
                                    td { (d.what) }
                                    td { code { (d.version) } }
                                    td { (badge(d.status)) }
                                    td {
                                        @if let Some((envs, status)) = &d.stage {
                                            (envs.join(", ")) " " (badge(status.as_str()))
                                        }
                                    }
                                    td { (duration(d.waited_ms)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(layout("Overview", Some(&v), true, &body)))
}

/// The approve/reject form of a gate.
fn verdict_form(v: &Viewer, id: &str, gate: &GateNeeds) -> Markup {
    html! {
        form.verdict method="post" action={ "/deployments/" (id) "/verdict" } {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="stage" value=(gate.stage);
            label for={ "comment-" (id) } { "Comment" }
            input type="text" id={ "comment-" (id) } name="comment" maxlength=(crate::api::wire::MAX_TEXT);
            button type="submit" name="action" value="APPROVE" { "Approve" }
            button.danger type="submit" name="action" value="REJECT" { "Reject" }
        }
    }
}

/// What a gate needs, and the form when the viewer may answer it.
fn gate_box(v: &Viewer, id: &str, gate: &GateNeeds) -> Markup {
    html! {
        section.gate aria-labelledby="gate" {
            h2 id="gate" { "Gate: " (gate.environments.join(", ")) }
            p {
                (gate.remaining) " more approval" @if gate.remaining != 1 { "s" }
                " of " (gate.min_approvals) " needed, from " (gate.groups.join(", ")) "."
            }
            p {
                "Approved by: "
                @if gate.approved_by.is_empty() { span.muted { "nobody yet" } }
                @else { (gate.approved_by.join(", ")) }
            }
            @if let Some(who) = &gate.rejected_by {
                p { "Rejected by " strong { (who) } "; an approval resumes it." }
            }
            @match &gate.viewer {
                Some(Verdict::May) => (verdict_form(v, id, gate)),
                Some(Verdict::MayNot(why)) => p.muted { "You may not answer this gate: " (why) },
                None => {},
            }
        }
    }
}

fn stage_rows(d: &Deployment) -> Markup {
    html! {
        table {
            (head(
                "Stages",
                &[
                    "#", "Environments", "Status", "Started", "Ended", "Took", "Manifest commit",
                    "Engine run", "Last word"
                ],
            ))
            tbody {
                @for s in &d.stages {
                    tr aria-current=[(s.index == d.current_stage && !d.status.is_final()).then_some("step")] {
                        td { (s.index) }
                        td { (s.environments.join(", ")) }
                        td { (badge(s.status.as_str())) }
                        td { @if let Some(t) = s.started_at { (at(t)) } }
                        td { @if let Some(t) = s.finished_at { (at(t)) } }
                        td {
                            @if let (Some(a), Some(b)) = (s.started_at, s.finished_at) {
                                (duration(b.0 - a.0))
                            }
                        }
                        td { @if let Some(c) = &s.commit_sha { code { (c.get(..12).unwrap_or(c)) } } }
                        td { @if let Some(r) = &s.run_id { code { (r) } } }
                        td { @if let Some(m) = &s.message { (m) } }
                    }
                }
            }
        }
    }
}

fn ledger_rows(ledger: &[ApprovalRecord]) -> Markup {
    html! {
        @if ledger.is_empty() {
            p.muted { "No approvals yet." }
        } @else {
            table {
                (head(
                    "Approval ledger (append-only)",
                    &[
                        "When", "Stage", "Who", "Action", "Comment"
                    ],
                ))
                tbody {
                    @for a in ledger {
                        tr {
                            td { (at(a.at)) }
                            td { (a.stage_index) }
                            td { (a.actor) }
                            td { (a.action.as_str()) }
                            td { (a.comment) }
                        }
                    }
                }
            }
        }
    }
}

/// `/deployments/{id}`: the timeline, tags, bundle, ledger, changelog and gate.
pub(crate) async fn deployment(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let v = viewer(&shared, &headers, &format!("/deployments/{id}")).await?;
    let catalog = &*v.catalog;
    let Some(view) = shared
        .driver
        .deployment(&DeploymentId(id.clone()))
        .await
        .map_err(crate::api::ApiError::from_store)?
    else {
        return Err(Refusal::page(
            StatusCode::NOT_FOUND,
            format!("no deployment '{id}'"),
        ));
    };
    let d = &view.deployment;
    let gate = gate_needs(
        catalog,
        shared.driver.settings(),
        d,
        &view.approvals,
        Some(v.person()),
    );
    let title = format!(
        "{} {} {}",
        d.track.as_str(),
        d.application
            .as_deref()
            .or(d.bundle.as_deref())
            .unwrap_or(""),
        d.version
    );
    // The core's own rules for retry and cancel, so the buttons follow the decisions.
    let retryable = d.retry_refusal().is_none();
    let cancellable =
        d.status != cd_core::pipeline::DeploymentStatus::Cancelled && d.cancel_refusal().is_none();
    let body = html! {
        p {
            (badge(d.status.as_str())) " "
            "Application set " strong { (d.application_set) } " · created " (at(d.created_at))
            @if let Some(who) = &d.requested_by { " by " (who) }
            " · id " code { (d.id) }
        }
        @if let Some(reason) = &d.reason { p.error { (reason) } }
        @if let Some(p) = &d.parked { p.error { "Waiting for a retry: " (p.error) } }
        @if let Some(g) = &gate { (gate_box(&v, &d.id.0, g)) }
        (stage_rows(d))
        @if !d.apps.is_empty() {
            table {
                (head(
                    "Bundle",
                    &[
                        "Application", "Version", "Production before", "RC tag", "Production tag"
                    ],
                ))
                tbody {
                    @for (app, a) in &d.apps {
                        tr {
                            td { (app) }
                            td { code { (a.version) } }
                            td { @if let Some(v) = d.last_deployed_versions.get(app) { code { (v) } } }
                            td { code { (d.version) } }
                            td { @if let Some(t) = &a.production_tag { code { (t) } } }
                        }
                    }
                }
            }
        }
        @if let Some(b) = &d.build {
            p { "Built from " code { (b.repository) } " at " code { (b.commit_sha) } " (" (b.git_ref) ")"
                @if let Some(a) = &b.author { " by " (a) } }
        }
        h2 { "Approvals" }
        (ledger_rows(&view.approvals))
        h2 { "Changelog" }
        @if view.changelog.is_empty() {
            p.muted { "No changelog entries." }
        } @else {
            ul.changelog {
                @for c in &view.changelog {
                    li {
                        code { (c.entry.kind) } @if let Some(s) = &c.entry.scope { "(" (s) ")" }
                        @if c.entry.breaking { strong { "!" } }
                        ": " (c.entry.description)
                        @if !c.entry.application.is_empty() { " — " (c.entry.application) " " (c.entry.version) }
                        @if let Some(pr) = c.entry.pr { " (#" (pr) ")" }
                    }
                }
            }
        }
        @if retryable || cancellable {
            h2 { "Actions" }
            div.actions {
                @if retryable {
                    form method="post" action={ "/deployments/" (d.id) "/retry" } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        button type="submit" { "Retry" }
                    }
                }
                @if cancellable {
                    form method="post" action={ "/deployments/" (d.id) "/cancel" } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        label for="cancel-comment" { "Why cancel" }
                        input type="text" id="cancel-comment" name="comment" maxlength=(crate::api::wire::MAX_TEXT);
                        button.danger type="submit" { "Cancel deployment" }
                    }
                }
            }
        }
        @if d.status == cd_core::pipeline::DeploymentStatus::Succeeded && d.application.is_some() {
            h2 { "Roll back to this version" }
            form.rollback method="post" action="/rollback" {
                input type="hidden" name="csrf" value=(v.csrf);
                input type="hidden" name="application" value=[d.application.as_deref()];
                input type="hidden" name="version" value=(d.version);
                label for="rollback-env" { "Environment" }
                select id="rollback-env" name="environment" {
                    @for s in &d.stages { @for e in &s.environments { option value=(e) { (e) } } }
                }
                button type="submit" { "Roll back" }
            }
        }
    };
    Ok(page(layout(&title, Some(&v), true, &body)))
}

/// `/approvals`: the gates waiting on the viewer, newest first.
pub(crate) async fn approvals(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let v = viewer(&shared, &headers, "/approvals").await?;
    let catalog = &*v.catalog;
    let waiting = shared
        .driver
        .waiting_on_people()
        .await
        .map_err(crate::api::ApiError::from_store)?;
    let settings = shared.driver.settings();
    let mine: Vec<(&Deployment, GateNeeds)> = waiting
        .iter()
        .filter_map(|w| {
            awaits(catalog, settings, &w.deployment, &w.approvals, v.person())
                .map(|gate| (&w.deployment, gate))
        })
        .collect();
    let body = html! {
        @if mine.is_empty() {
            p { "Nothing waits on you." }
        }
        @for (d, gate) in &mine {
            article.pending aria-labelledby={ "pending-" (d.id) } {
                h2 id={ "pending-" (d.id) } {
                    a href={ "/deployments/" (d.id) } {
                        (d.track.as_str()) " "
                        (d.application.as_deref().or(d.bundle.as_deref()).unwrap_or(""))
                        " " (d.version)
                    }
                    " → " (gate.environments.join(", "))
                }
                p {
                    (gate.remaining) " more of " (gate.min_approvals) " from " (gate.groups.join(", "))
                    "; approved by "
                    @if gate.approved_by.is_empty() { "nobody yet" } @else { (gate.approved_by.join(", ")) }
                    " · waiting since " (at(d.stage().and_then(|s| s.started_at).unwrap_or(d.created_at)))
                }
                (verdict_form(&v, &d.id.0, gate))
            }
        }
    };
    Ok(page(layout(
        "Approvals waiting on you",
        Some(&v),
        true,
        &body,
    )))
}

/// `/holds`: the holds in force, and the forms to place and lift them.
pub(crate) async fn holds(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let v = viewer(&shared, &headers, "/holds").await?;
    let catalog = &*v.catalog;
    let holds = shared
        .driver
        .holds()
        .await
        .map_err(crate::api::ApiError::from_store)?;
    let body = html! {
        @if holds.is_empty() {
            p { "No environment is held." }
        } @else {
            table {
                caption { "Holds in force" }
                thead { tr {
                    th scope="col" { "Environment" }
                    th scope="col" { "Held by" }
                    th scope="col" { "Since" }
                    th scope="col" { "Why" }
                    th scope="col" { span.visually-hidden { "Lift" } }
                } }
                tbody {
                    @for (env, h) in &holds {
                        tr {
                            td { (env) }
                            td { (h.actor) }
                            td { (at(h.at)) }
                            td { (h.reason) }
                            td {
                                form method="post" action={ "/holds/" (env) "/lift" } {
                                    input type="hidden" name="csrf" value=(v.csrf);
                                    button type="submit" aria-label={ "Lift the hold on " (env) } { "Lift" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Hold an environment" }
        form.hold method="post" action="/holds" {
            input type="hidden" name="csrf" value=(v.csrf);
            label for="hold-env" { "Environment" }
            select id="hold-env" name="environment" {
                @for env in catalog.environments.keys() { option value=(env) { (env) } }
            }
            label for="hold-reason" { "Why" }
            input type="text" id="hold-reason" name="reason" required maxlength=(crate::api::wire::MAX_TEXT);
            button.danger type="submit" { "Hold" }
        }
    };
    Ok(page(layout("Holds", Some(&v), true, &body)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReleaseQuery {
    #[serde(default)]
    set: Option<String>,
    #[serde(default)]
    bundle: Option<String>,
}

/// `/releases/new`: pick an application set and a bundle name, see the version of each
/// application the release will carry (each one's best build that passed its PreRelease
/// stages) beside what the last release shipped, then confirm. The confirmation names those
/// versions, so the release carries exactly what was shown even if a newer build passes in
/// between.
pub(crate) async fn release(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<ReleaseQuery>,
) -> Result<Response, Refusal> {
    let v = viewer(&shared, &headers, "/releases/new").await?;
    let catalog = &*v.catalog;
    let set = q
        .set
        .clone()
        .or_else(|| catalog.application_sets.keys().next().cloned())
        .unwrap_or_default();
    if !set.is_empty() && !catalog.application_sets.contains_key(&set) {
        return Err(Refusal::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the tenant has no application set '{set}'"),
        ));
    }
    let bundle = q.bundle.as_deref().map(str::trim).unwrap_or_default();
    let bundle_error = (!bundle.is_empty())
        .then(|| cd_core::version::check_bundle(bundle).err())
        .flatten();
    let apps: Vec<String> = catalog
        .applications_in_set(&set)
        .into_iter()
        .map(|a| a.name.clone())
        .collect();
    let mut keys: std::collections::BTreeSet<String> = apps
        .iter()
        .map(|a| cd_core::pipeline::passed_key(a))
        .collect();
    keys.insert(cd_core::pipeline::released_key(&set));
    let records = shared
        .driver
        .records(keys)
        .await
        .map_err(crate::api::ApiError::from_store)?;
    let recorded = cd_core::pipeline::State {
        records,
        ..cd_core::pipeline::State::default()
    };
    let released = recorded.recorded_release(&set).cloned().unwrap_or_default();
    let plan: Vec<(&String, Option<&str>, Option<&String>)> = apps
        .iter()
        .map(|a| (a, recorded.recorded_passed(a), released.get(a)))
        .collect();
    let ready = plan.iter().all(|(_, passed, _)| passed.is_some());
    let body = html! {
        form.pick method="get" action="/releases/new" {
            label for="release-set" { "Application set" }
            select id="release-set" name="set" {
                @for name in catalog.application_sets.keys() {
                    option value=(name) selected[*name == set] { (name) }
                }
            }
            label for="release-bundle" { "Bundle" }
            input type="text" id="release-bundle" name="bundle" value=(bundle) required
                placeholder="2026.12" maxlength="64";
            button type="submit" { "Preview" }
        }
        @if let Some(e) = &bundle_error { p.error role="alert" { (e) } }
        @if !set.is_empty() {
            table {
                (head(
                    &format!("What a release of {} carries", set),
                    &[
                        "Application", "Version it carries", "Last release shipped"
                    ],
                ))
                tbody {
                    @for (app, passed, shipped) in &plan {
                        tr {
                            td { (app) }
                            td {
                                @match passed {
                                    Some(version) => code { (version) },
                                    None => span.error { "no build has passed its PreRelease stages" },
                                }
                            }
                            td {
                                @match shipped {
                                    Some(version) if Some(version.as_str()) == *passed => {
                                        code { (version) } " (unchanged)"
                                    },
                                    Some(version) => code { (version) },
                                    None => span.muted { "never released" },
                                }
                            }
                        }
                    }
                }
            }
            @if !bundle.is_empty() && bundle_error.is_none() && ready {
                form.confirm method="post" action="/releases" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="set" value=(set);
                    input type="hidden" name="bundle" value=(bundle);
                    @for (app, passed, _) in &plan {
                        @if let Some(version) = passed {
                            input type="hidden" name={ "version." (app) } value=(version);
                        }
                    }
                    button type="submit" { "Start release " (set) " " (bundle) }
                }
            } @else if !ready {
                p.muted { "Every application needs a build that passed its PreRelease stages before a release." }
            } @else {
                p.muted { "Name the bundle, preview, then start the release." }
            }
        }
    };
    Ok(page(layout("Start a release", Some(&v), false, &body)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DoraQuery {
    #[serde(default)]
    days: Option<u32>,
}

/// Deployments per day as bars, oldest day first, drawn on the server: no script, no canvas.
fn per_day_chart(set: &str, days: u32, per_day: &[u32]) -> Markup {
    const W: u32 = 600;
    const H: u32 = 90;
    let top = per_day.iter().copied().max().unwrap_or(0).max(1);
    let n = u32::try_from(per_day.len()).unwrap_or(1).max(1);
    let slot = W / n;
    let total: u32 = per_day.iter().sum();
    let label = format!("{set}: {total} production deployments in the last {days} days, by day");
    html! {
        svg.chart width=(W) height=(H + 14) viewBox={ "0 0 " (W) " " (H + 14) } role="img" aria-label=(label) {
            title { (label) }
            line.axis x1="0" y1=(H) x2=(W) y2=(H) {}
            @for (i, count) in per_day.iter().enumerate() {
                @let i = u32::try_from(i).unwrap_or(0);
                @let h = count * (H - 4) / top;
                rect.bar x=(i * slot + 1) y=(H - h) width=(slot.saturating_sub(2).max(1)) height=(h) {
                    title { (count) " on day " (i + 1) " of " (days) }
                }
            }
            text.tick x="0" y=(H + 12) { (days) " days ago" }
            text.tick x=(W) y=(H + 12) text-anchor="end" { "today" }
        }
    }
}

/// A value as a short bar beside its text, scaled to the largest of its row.
fn meter(value: Option<f64>, largest: f64, text: &str) -> Markup {
    const W: f64 = 80.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let width = match value {
        Some(v) if largest > 0.0 => ((v / largest) * W).round().clamp(0.0, W) as u32,
        _ => 0,
    };
    html! {
        svg.meter width="80" height="10" viewBox="0 0 80 10" aria-hidden="true" focusable="false" {
            rect.track x="0" y="0" width="80" height="10" {}
            rect.bar x="0" y="0" width=(width) height="10" {}
        }
        " " (text)
    }
}

/// `/dora`: each application set's deployment frequency, lead time for changes, change failure
/// rate and time to restore over 7, 30 and 90 days (the same figures `/metrics` exports).
pub(crate) async fn dora(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<DoraQuery>,
) -> Result<Response, Refusal> {
    let v = viewer(&shared, &headers, "/dora").await?;
    let catalog = &*v.catalog;
    let days = q
        .days
        .filter(|d| cd_core::dora::WINDOWS.contains(d))
        .unwrap_or(30);
    let now = shared.driver.now();
    let figures = crate::dora::figures(&shared.driver, catalog, now)
        .await
        .map_err(crate::api::ApiError::from_store)?;
    #[allow(clippy::cast_precision_loss)]
    let ms = |v: Option<i64>| v.map(|ms| ms as f64);
    let body = html! {
        p {
            "Window for the charts: "
            @for w in cd_core::dora::WINDOWS {
                @if w == days { strong { (w) " days" } } @else { a href={ "/dora?days=" (w) } { (w) " days" } }
                " "
            }
        }
        @for (set, windows) in &figures {
            section aria-labelledby={ "dora-" (set) } {
                h2 id={ "dora-" (set) } { "Application set " (set) }
                @if let Some(f) = windows.get(&days) { (per_day_chart(set, days, &f.per_day)) }
                table {
                    caption { "DORA figures of " (set) }
                    thead { tr {
                        th scope="col" { "Figure" }
                        @for d in windows.keys() { th scope="col" { (d) " days" } }
                    } }
                    tbody {
                        @let largest = |get: &dyn Fn(&cd_core::dora::Figures) -> Option<f64>| {
                            windows.values().filter_map(get).fold(0.0_f64, f64::max)
                        };
                        @let freq = |f: &cd_core::dora::Figures| Some(f64::from(f.deployments) / f64::from(f.days.max(1)));
                        @let lead = |f: &cd_core::dora::Figures| ms(f.lead_time_ms);
                        @let cfr = |f: &cd_core::dora::Figures| f.change_failure_rate();
                        @let restore = |f: &cd_core::dora::Figures| ms(f.restore_ms);
                        tr {
                            th scope="row" { "Deployment frequency" }
                            @for f in windows.values() {
                                td { (meter(freq(f), largest(&freq), &format!("{} ({:.2}/day)", f.deployments, f64::from(f.deployments) / f64::from(f.days.max(1))))) }
                            }
                        }
                        tr {
                            th scope="row" { "Lead time for changes (median)" }
                            @for f in windows.values() {
                                td { (meter(lead(f), largest(&lead), &f.lead_time_ms.map_or_else(|| "—".to_string(), duration))) }
                            }
                        }
                        tr {
                            th scope="row" { "Change failure rate" }
                            @for f in windows.values() {
                                td { (meter(cfr(f), 1.0, &f.change_failure_rate().map_or_else(|| "—".to_string(), |r| format!("{:.0}% ({} of {})", r * 100.0, f.failed_changes, f.changes)))) }
                            }
                        }
                        tr {
                            th scope="row" { "Time to restore (median)" }
                            @for f in windows.values() {
                                td { (meter(restore(f), largest(&restore), &f.restore_ms.map_or_else(|| "—".to_string(), duration))) }
                            }
                        }
                    }
                }
            }
        }
        p.muted {
            "Production is the last release stage of each set's track. A change is a release or hotfix; "
            "its lead time runs from its build's commit (or CI's report of the build) to the end of its "
            "production stage. The same figures are on " a href="/metrics" { "/metrics" } "."
        }
    };
    Ok(page(layout("DORA metrics", Some(&v), false, &body)))
}

/// What a sign-in error code means, in the Portal's own words: a link can choose the code, not
/// the text shown under this site's name.
fn sign_in_error(code: &str) -> &'static str {
    match code {
        "stranger" => {
            "You signed in as someone this tenant's manifests do not know (an OrganizationUser, by name or primary email, or an external member of a group). Ask its administrators to add you."
        }
        _ => "Signing in did not succeed. Try again.",
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInQuery {
    #[serde(default)]
    back: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Only a path of this site is a place to return to: never another origin. A path starts with
/// one `/` not followed by `/` or `\\` (which browsers read as the start of a host), and holds
/// only visible ASCII: browsers drop tabs and newlines from a URL, so `/<TAB>/evil.example` would
/// become `//evil.example`.
pub(crate) fn safe_back(back: Option<&str>) -> String {
    match back {
        Some(b)
            if b.starts_with('/')
                && !matches!(b.as_bytes().get(1), Some(b'/' | b'\\'))
                && b.bytes().all(|c| c.is_ascii_graphic()) =>
        {
            b.to_string()
        }
        _ => "/".to_string(),
    }
}

/// `/sign-in`: in local mode, a person signs in by name (or at once from the trusted header).
pub(crate) async fn sign_in(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<SignInQuery>,
) -> Result<Response, Refusal> {
    let back = safe_back(q.back.as_deref());
    if let Some(signin) = &shared.signin {
        // Through the issuer; after a refusal, say why and offer to start again rather than
        // sending the browser straight back.
        if let Some(e) = &q.error {
            let again = serde_urlencoded::to_string([("back", back.as_str())]).unwrap_or_default();
            let body = html! {
                p.error role="alert" { (sign_in_error(e)) }
                p { a href={ "/sign-in?" (again) } { "Sign in again" } }
            };
            let mut response = page(layout("Sign in", None, false, &body));
            *response.status_mut() = StatusCode::FORBIDDEN;
            return Ok(response);
        }
        return super::signin::begin(&shared, signin, &back).await;
    }
    if !shared.trust_actor_header {
        return Err(Refusal::page(
            StatusCode::NOT_IMPLEMENTED,
            "the Portal signs people in through the OIDC issuer once auth.oidc.portal is configured (docs/OPERATIONS.md); until then use the API with a bearer token",
        ));
    }
    // After a refusal, the page says why rather than signing the same header in again (which
    // would send the browser round in a loop).
    if q.error.is_none()
        && let Some(person) = headers
            .get(shared.actor_header.as_str())
            .and_then(|h| h.to_str().ok())
            .map(str::trim)
            .filter(|p| !p.is_empty())
    {
        return super::actions::start_session(&shared, person, &back).await;
    }
    let body = html! {
        p { "Local mode: name yourself as the tenant's manifests know you (an OrganizationUser's name or email)." }
        @if let Some(e) = &q.error { p.error role="alert" { (sign_in_error(e)) } }
        form.signin method="post" action="/sign-in" {
            input type="hidden" name="back" value=(back);
            label for="person" { "Who you are" }
            input type="text" id="person" name="person" required autocomplete="username";
            button type="submit" { "Sign in" }
        }
    };
    Ok(page(layout("Sign in", None, false, &body)))
}

/// Where to go after an action on a deployment.
pub(crate) fn to_deployment(id: &str) -> Response {
    Redirect::to(&format!("/deployments/{id}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_back;

    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        for ok in ["/", "/holds", "/deployments/d-1?x=1", "/a/b"] {
            assert_eq!(safe_back(Some(ok)), ok);
        }
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "https://evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_back(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(safe_back(None), "/");
    }
}
