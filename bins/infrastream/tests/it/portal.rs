//! The Portal over real HTTP against a running `infrastream serve`: sessions, CSRF tokens,
//! who sees which button, escaping, and the security headers of every page. (The walk through
//! the demo's day in a real browser is in `browser.rs`.)

use reqwest::header::HeaderMap;

use crate::e2e::{all_built, release_awaiting_approval};
use crate::service::{Service, ci_build};

/// An answer: status, headers and body text.
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token the page's forms carry.
    pub(crate) fn csrf(&self) -> String {
        let at = self
            .text
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF token on the page: {}", self.text));
        let rest = &self.text[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

/// Sends one request without following redirects.
pub(crate) fn fetch(
    svc: &Service,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
) -> Page {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        // As a browser asks for a page.
        let mut req = client
            .request(method, format!("{}{path}", svc.url))
            .header("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8");
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if let Some(f) = form {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(f).unwrap());
        }
        let resp = req.send().await.unwrap();
        Page {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    })
}

/// Signs `person` in by name (local mode) and returns the cookie to send.
pub(crate) fn sign_in(svc: &Service, person: &str) -> String {
    let page = fetch(
        svc,
        "POST",
        "/sign-in",
        None,
        Some(&[("person", person), ("back", "/")]),
    );
    assert_eq!(page.status, 303, "{}", page.text);
    let set = page
        .headers
        .get("set-cookie")
        .unwrap_or_else(|| panic!("{person} got no session: {}", page.location()))
        .to_str()
        .unwrap()
        .to_string();
    set.split(';').next().unwrap().to_string()
}

fn ledger_len(svc: &Service, id: &str) -> usize {
    let (_, view) = svc.get(&format!("/v1/deployments/{id}"));
    view["approvals"].as_array().unwrap().len()
}

#[test]
fn pages_take_a_signed_in_person_and_carry_the_security_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &[]);

    // No session: every page sends the viewer to sign in, and back afterwards.
    for path in ["/", "/approvals", "/holds", "/deployments/d-x"] {
        let page = fetch(&svc, "GET", path, None, None);
        assert_eq!(page.status, 303, "{path}");
        assert!(page.location().starts_with("/sign-in?back="), "{path}");
    }
    let form = fetch(&svc, "GET", "/sign-in?back=/holds", None, None);
    assert_eq!(form.status, 200);
    assert!(form.text.contains("name=\"person\""), "{}", form.text);

    // Only people the tenant knows get a session; the cookie is what the Portal promises.
    let refused = fetch(
        &svc,
        "POST",
        "/sign-in",
        None,
        Some(&[("person", "mallory"), ("back", "/")]),
    );
    assert_eq!(refused.status, 303);
    assert!(refused.headers.get("set-cookie").is_none());
    assert!(
        refused.location().contains("error=stranger"),
        "{}",
        refused.location()
    );
    // The page says so in its own words; a link cannot put text of its choosing there.
    let told = fetch(&svc, "GET", "/sign-in?error=Call+555-0100+now", None, None);
    assert!(!told.text.contains("555-0100"), "{}", told.text);
    assert!(
        told.text.contains("Signing in did not succeed"),
        "{}",
        told.text
    );
    // A proxy's trusted header naming a stranger gets the same words, once (no loop).
    let (code, page) = svc.call(
        "GET",
        "/sign-in?back=/",
        &[("x-infrastream-actor", "mallory".to_string())],
        None,
    );
    assert_eq!(code, 200, "{page}");
    assert!(page.as_str().unwrap().contains("do not know"), "{page}");
    let query = refused.location().split_once('?').unwrap().1.to_string();
    let told = fetch(&svc, "GET", &format!("/sign-in?{query}"), None, None);
    assert!(told.text.contains("do not know"), "{}", told.text);
    let page = fetch(
        &svc,
        "POST",
        "/sign-in",
        None,
        Some(&[("person", "jane"), ("back", "https://evil.example/")]),
    );
    assert_eq!(page.location(), "/", "never back to another origin");
    // Nor to one a browser would read out of a path: a tab it drops, a second slash.
    for back in ["/\t/evil.example", "//evil.example", "/\\evil.example"] {
        let other = fetch(
            &svc,
            "POST",
            "/sign-in",
            None,
            Some(&[("person", "jane"), ("back", back)]),
        );
        assert_eq!(other.location(), "/", "{back:?}");
    }
    let set = page.headers["set-cookie"].to_str().unwrap();
    for attribute in [
        "__Host-infrastream-session=",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=3600",
    ] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    let jane = set.split(';').next().unwrap().to_string();

    // A forged or tampered cookie is no session.
    let last = if jane.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &jane[..jane.len() - 1]);
    assert_eq!(fetch(&svc, "GET", "/", Some(&tampered), None).status, 303);

    for path in ["/", "/approvals", "/holds"] {
        let page = fetch(&svc, "GET", path, Some(&jane), None);
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        assert_eq!(
            page.headers["content-security-policy"],
            cd_service::portal::CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(page.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff", "{path}");
        // The one script is this origin's file: no inline script anywhere.
        assert_eq!(
            page.text.matches("<script").count(),
            page.text
                .matches("<script src=\"/assets/live.js\" defer>")
                .count(),
            "{path}: {}",
            page.text
        );
        assert!(!page.text.contains(" style="), "{path}: inline style");
        assert!(
            page.text.contains("Signed in as <strong>jane</strong>"),
            "{path}"
        );
    }
    let overview = fetch(&svc, "GET", "/", Some(&jane), None);
    assert!(
        overview.text.contains("Application set shop"),
        "{}",
        overview.text
    );
    for app in ["shop-api", "shop-web", "shop-worker"] {
        assert!(overview.text.contains(app), "{app}");
    }
    let script = fetch(&svc, "GET", "/assets/live.js", None, None);
    assert_eq!(script.status, 200);
    assert!(
        script.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    // A malformed query, or an address with no page, is answered to a browser by a page of
    // the Portal (in its own words, with its headers); the API's clients still get JSON.
    let bad = fetch(&svc, "GET", "/dora?days=%3Cb%3Ex", Some(&jane), None);
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(
        bad.text.contains("carries a query it does not take") && !bad.text.contains("<b>x"),
        "{}",
        bad.text
    );
    let missing = fetch(&svc, "GET", "/no/such/page", Some(&jane), None);
    assert_eq!(missing.status, 404);
    assert!(
        missing.text.contains("no page at this address"),
        "{}",
        missing.text
    );
    for page in [&bad, &missing] {
        assert_eq!(
            page.headers["content-security-policy"],
            cd_service::portal::CONTENT_SECURITY_POLICY
        );
        assert_eq!(page.headers["x-frame-options"], "DENY");
    }
    let (code, body) = svc.get("/no/such/page");
    assert_eq!(code, 404);
    assert_eq!(
        body["message"], "no such route (see /openapi.json)",
        "{body}"
    );

    // Signing out takes the CSRF token, and ends the cookie.
    let csrf = overview.csrf();
    assert_eq!(
        fetch(&svc, "POST", "/sign-out", Some(&jane), Some(&[])).status,
        403
    );
    let out = fetch(
        &svc,
        "POST",
        "/sign-out",
        Some(&jane),
        Some(&[("csrf", &csrf)]),
    );
    assert_eq!(out.status, 303);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[test]
fn forms_take_the_sessions_csrf_token_and_only_stakeholders_see_and_answer_a_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &[]);
    let release = release_awaiting_approval(&svc, &tmp.path().join("ci"));
    let jane = sign_in(&svc, "jane");
    let omar = sign_in(&svc, "omar");
    let sam = sign_in(&svc, "sam");
    let page = format!("/deployments/{release}");
    let verdict = format!("/deployments/{release}/verdict");

    // sam (a developer) sees the gate, no button, and why.
    let sams = fetch(&svc, "GET", &page, Some(&sam), None);
    assert_eq!(sams.status, 200, "{}", sams.text);
    assert!(
        sams.text.contains("2 more approvals of 2 needed"),
        "{}",
        sams.text
    );
    assert!(!sams.text.contains("value=\"APPROVE\""), "{}", sams.text);
    assert!(
        sams.text.contains("You may not answer this gate"),
        "{}",
        sams.text
    );
    // A forged POST from sam, with his own valid token, is refused by the decision: 403.
    let before = ledger_len(&svc, &release);
    let forged = fetch(
        &svc,
        "POST",
        &verdict,
        Some(&sam),
        Some(&[
            ("csrf", &sams.csrf()),
            ("stage", "1"),
            ("action", "APPROVE"),
        ]),
    );
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert!(forged.text.contains("not a stakeholder"), "{}", forged.text);

    // jane sees the buttons; without a token, or with omar's, her POST is refused.
    let janes = fetch(&svc, "GET", &page, Some(&jane), None);
    assert!(janes.text.contains("value=\"APPROVE\""), "{}", janes.text);
    let omars = fetch(&svc, "GET", "/approvals", Some(&omar), None);
    assert!(
        omars
            .text
            .contains(&format!("/deployments/{release}/verdict")),
        "{}",
        omars.text
    );
    for token in [None, Some(omars.csrf()), Some("00".repeat(32))] {
        let mut form = vec![("stage", "1"), ("action", "APPROVE")];
        if let Some(t) = &token {
            form.push(("csrf", t));
        }
        let refused = fetch(&svc, "POST", &verdict, Some(&jane), Some(&form));
        assert_eq!(refused.status, 403, "{token:?}: {}", refused.text);
        assert!(refused.text.contains("CSRF"), "{}", refused.text);
    }
    // Nothing was decided by any refused form.
    assert_eq!(ledger_len(&svc, &release), before);
    // A POST with no session at all is refused.
    let anonymous = fetch(&svc, "POST", &verdict, None, Some(&[("stage", "1")]));
    assert_eq!(anonymous.status, 403);

    // A hostile comment is kept, and shown as text.
    let hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    let ok = fetch(
        &svc,
        "POST",
        &verdict,
        Some(&jane),
        Some(&[
            ("csrf", &janes.csrf()),
            ("stage", "1"),
            ("action", "APPROVE"),
            ("comment", hostile),
        ]),
    );
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert_eq!(ok.location(), page);
    assert_eq!(ledger_len(&svc, &release), before + 1);
    let (_, view) = svc.get(&page.replace("/deployments", "/v1/deployments"));
    assert_eq!(
        view["approvals"][before]["comment"], hostile,
        "stored as sent"
    );
    assert_eq!(view["approvals"][before]["actor"], "jane");
    // jane approved: the gate no longer waits on her, though it still waits on omar.
    let janes_inbox = fetch(&svc, "GET", "/approvals", Some(&jane), None);
    assert!(
        janes_inbox.text.contains("Nothing waits on you."),
        "{}",
        janes_inbox.text
    );
    let (_, pending) = svc.call(
        "GET",
        "/v1/approvals",
        &[("x-infrastream-actor", "jane".to_string())],
        None,
    );
    assert_eq!(pending, serde_json::json!([]), "{pending:#}");
    let shown = fetch(&svc, "GET", &page, Some(&omar), None);
    assert!(
        shown
            .text
            .contains("&lt;script&gt;alert('x')&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        shown.text
    );
    assert!(!shown.text.contains("<script>alert"), "{}", shown.text);
    assert!(
        shown.text.contains("1 more approval of 2 needed"),
        "{}",
        shown.text
    );

    // The inbox: omar's second approval from it ships the release.
    let inbox = fetch(&svc, "GET", "/approvals", Some(&omar), None);
    let done = fetch(
        &svc,
        "POST",
        &verdict,
        Some(&omar),
        Some(&[
            ("csrf", &inbox.csrf()),
            ("stage", "1"),
            ("action", "APPROVE"),
        ]),
    );
    assert_eq!(done.status, 303, "{}", done.text);
    svc.wait(&release, &["SUCCEEDED"]);
    let after = fetch(&svc, "GET", "/approvals", Some(&omar), None);
    assert!(
        after.text.contains("Nothing waits on you."),
        "{}",
        after.text
    );

    // The overview: the release's RC tag in staging and production for each application,
    // the builds in development, nothing in flight.
    let overview = fetch(&svc, "GET", "/", Some(&omar), None);
    assert_eq!(
        overview
            .text
            .matches("<code>shop-2026.11-rc.0</code>")
            .count(),
        6,
        "{}",
        overview.text
    );
    assert_eq!(
        overview.text.matches("<code>v1.0.0</code>").count(),
        3,
        "{}",
        overview.text
    );
    assert!(
        overview.text.contains("Nothing in flight."),
        "{}",
        overview.text
    );

    // The release is a production deployment: the DORA figures count it, on the page and on
    // /metrics alike.
    let dora = fetch(&svc, "GET", "/dora?days=7", Some(&omar), None);
    assert_eq!(dora.status, 200, "{}", dora.text);
    assert!(dora.text.contains("1 (0.14/day)"), "{}", dora.text);
    assert!(dora.text.contains("0% (0 of 1)"), "{}", dora.text);
    assert!(dora.text.contains("<svg class=\"chart\""), "{}", dora.text);
    let (_, metrics) = svc.call("GET", "/metrics", &[], None);
    let metrics = metrics.as_str().unwrap().to_string();
    for line in [
        "infrastream_dora_deployments{application_set=\"shop\",window=\"7d\"} 1",
        "infrastream_dora_deployments{application_set=\"shop\",window=\"90d\"} 1",
        "infrastream_dora_change_failure_ratio{application_set=\"shop\",window=\"30d\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "infrastream_dora_lead_time_seconds{application_set=\"shop\",window=\"7d\"} "
        )),
        "{metrics}"
    );
    assert!(
        !metrics.contains("infrastream_dora_time_to_restore_seconds{"),
        "nothing failed, nothing restored: {metrics}"
    );

    // After a shipped release, another of the same builds can be started from the Release page
    // and waits for production approval again (what PORTAL.md tells a newcomer after the demo).
    let preview = fetch(
        &svc,
        "GET",
        "/releases/new?set=shop&bundle=2026.12",
        Some(&jane),
        None,
    );
    assert!(preview.text.contains("(unchanged)"), "{}", preview.text);
    let csrf = preview.csrf();
    let again = fetch(
        &svc,
        "POST",
        "/releases",
        Some(&jane),
        Some(&[
            ("csrf", csrf.as_str()),
            ("set", "shop"),
            ("bundle", "2026.12"),
            ("version.shop-api", "v1.0.0"),
            ("version.shop-web", "v1.0.0"),
            ("version.shop-worker", "v1.0.0"),
        ]),
    );
    assert_eq!(again.status, 303, "{}", again.text);
    let second = again
        .location()
        .trim_start_matches("/deployments/")
        .to_string();
    svc.wait(&second, &["AWAITING_APPROVAL"]);
}

#[test]
fn holds_are_placed_and_lifted_from_the_page_and_render_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &[]);
    let li = sign_in(&svc, "li");
    let page = fetch(&svc, "GET", "/holds", Some(&li), None);
    assert!(
        page.text.contains("No environment is held."),
        "{}",
        page.text
    );
    let reason = "<script>document.title='owned'</script> freeze";
    let placed = fetch(
        &svc,
        "POST",
        "/holds",
        Some(&li),
        Some(&[
            ("csrf", &page.csrf()),
            ("environment", "production"),
            ("reason", reason),
        ]),
    );
    assert_eq!(placed.status, 303, "{}", placed.text);
    let (_, holds) = svc.get("/v1/holds");
    assert_eq!(holds["production"]["actor"], "li");
    assert_eq!(holds["production"]["reason"], reason);
    let page = fetch(&svc, "GET", "/holds", Some(&li), None);
    assert!(
        page.text
            .contains("&lt;script&gt;document.title='owned'&lt;/script&gt; freeze"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("<script>document"), "{}", page.text);
    // The overview marks the held environment.
    let overview = fetch(&svc, "GET", "/", Some(&li), None);
    assert!(overview.text.contains(">HELD<"), "{}", overview.text);
    // Without the token nothing is lifted; with it, the hold goes.
    let lift = fetch(&svc, "POST", "/holds/production/lift", Some(&li), Some(&[]));
    assert_eq!(lift.status, 403);
    assert_eq!(svc.get("/v1/holds").1["production"]["actor"], "li");
    let lift = fetch(
        &svc,
        "POST",
        "/holds/production/lift",
        Some(&li),
        Some(&[("csrf", &page.csrf())]),
    );
    assert_eq!(lift.status, 303, "{}", lift.text);
    assert_eq!(svc.get("/v1/holds").1, serde_json::json!({}));
    // A reason longer than the field takes (a form built by hand) is refused, and holds
    // nothing.
    let long = "x".repeat(2001);
    let refused = fetch(
        &svc,
        "POST",
        "/holds",
        Some(&li),
        Some(&[
            ("csrf", &page.csrf()),
            ("environment", "staging"),
            ("reason", &long),
        ]),
    );
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.text.contains("at most 2000"), "{}", refused.text);
    assert_eq!(svc.get("/v1/holds").1, serde_json::json!({}));
}

#[test]
fn a_release_is_previewed_then_started_with_the_versions_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &[]);
    let jane = sign_in(&svc, "jane");
    // Before any build passed, the preview says what is missing and offers no confirmation.
    let early = fetch(
        &svc,
        "GET",
        "/releases/new?set=shop&bundle=2026.12",
        Some(&jane),
        None,
    );
    assert_eq!(early.status, 200, "{}", early.text);
    assert!(
        early
            .text
            .contains("no build has passed its PreRelease stages"),
        "{}",
        early.text
    );
    assert!(
        !early.text.contains("action=\"/releases\""),
        "{}",
        early.text
    );

    all_built(&svc, &tmp.path().join("ci"));
    let preview = fetch(
        &svc,
        "GET",
        "/releases/new?set=shop&bundle=2026.12",
        Some(&jane),
        None,
    );
    for app in ["shop-api", "shop-web", "shop-worker"] {
        assert!(
            preview
                .text
                .contains(&format!("name=\"version.{app}\" value=\"v1.0.0\"")),
            "{app}: {}",
            preview.text
        );
    }
    assert!(preview.text.contains("never released"), "{}", preview.text);
    // A bundle name no branch can carry is said so, with nothing to confirm.
    let bad = fetch(
        &svc,
        "GET",
        "/releases/new?set=shop&bundle=a..b",
        Some(&jane),
        None,
    );
    assert!(bad.text.contains("class=\"error\""), "{}", bad.text);
    assert!(!bad.text.contains("action=\"/releases\""), "{}", bad.text);
    let unknown = fetch(&svc, "GET", "/releases/new?set=nope", Some(&jane), None);
    assert_eq!(unknown.status, 422);

    let form = [
        ("set", "shop"),
        ("bundle", "2026.12"),
        ("version.shop-api", "v1.0.0"),
        ("version.shop-web", "v1.0.0"),
        ("version.shop-worker", "v1.0.0"),
    ];
    let refused = fetch(&svc, "POST", "/releases", Some(&jane), Some(&form));
    assert_eq!(refused.status, 403, "no CSRF token");
    assert_eq!(
        svc.get("/v1/deployments?track=RELEASE").1,
        serde_json::json!([])
    );
    let csrf = preview.csrf();
    let mut confirmed = form.to_vec();
    confirmed.push(("csrf", &csrf));
    let started = fetch(&svc, "POST", "/releases", Some(&jane), Some(&confirmed));
    assert_eq!(started.status, 303, "{}", started.text);
    let id = started
        .location()
        .trim_start_matches("/deployments/")
        .to_string();
    let (_, view) = svc.get(&format!("/v1/deployments/{id}"));
    assert_eq!(view["deployment"]["requestedBy"], "jane");
    assert_eq!(view["deployment"]["bundle"], "2026.12");
    for app in ["shop-api", "shop-web", "shop-worker"] {
        assert_eq!(
            view["deployment"]["apps"][app]["version"], "v1.0.0",
            "{view:#}"
        );
    }
}

#[test]
fn cancel_and_rollback_from_the_pages_go_through_the_same_decisions() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &[]);
    all_built(&svc, &tmp.path().join("ci"));
    let jane = sign_in(&svc, "jane");

    // A build that succeeded offers a rollback to its version; the form starts one.
    let (_, builds) = svc.get("/v1/deployments?application=shop-api&track=PRERELEASE");
    let build = builds[0]["id"].as_str().unwrap().to_string();
    let page = fetch(
        &svc,
        "GET",
        &format!("/deployments/{build}"),
        Some(&jane),
        None,
    );
    assert!(
        page.text.contains("Roll back to this version"),
        "{}",
        page.text
    );
    let form = [
        ("application", "shop-api"),
        ("environment", "development"),
        ("version", "v1.0.0"),
    ];
    let refused = fetch(&svc, "POST", "/rollback", Some(&jane), Some(&form));
    assert_eq!(refused.status, 403, "no CSRF token: {}", refused.text);
    let csrf = page.csrf();
    let mut with_token = form.to_vec();
    with_token.push(("csrf", &csrf));
    let rolled = fetch(&svc, "POST", "/rollback", Some(&jane), Some(&with_token));
    assert_eq!(rolled.status, 303, "{}", rolled.text);
    let rollback = rolled
        .location()
        .trim_start_matches("/deployments/")
        .to_string();
    let (_, view) = svc.get(&format!("/v1/deployments/{rollback}"));
    assert_eq!(view["deployment"]["track"], "ROLLBACK", "{view:#}");
    assert_eq!(view["deployment"]["requestedBy"], "jane", "{view:#}");

    // A release held before staging is cancelled from its page, with a reason: the ledger
    // records it like an approval.
    let (code, body) = svc.call(
        "PUT",
        "/v1/holds/staging",
        &[("x-infrastream-actor", "jane".to_string())],
        Some(br#"{"reason":"audit"}"#),
    );
    assert_eq!(code, 202, "{body}");
    let (code, body) = svc.as_actor(
        "jane",
        "/v1/releases",
        &serde_json::json!({ "applicationSet": "shop", "bundle": "2026.12" }),
    );
    assert_eq!(code, 202, "{body}");
    let release = body["deployments"][0].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, view) = svc.get(&format!("/v1/deployments/{release}"));
        if view["deployment"]["stages"][0]["status"] == "HELD" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never held: {view:#}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let page = fetch(
        &svc,
        "GET",
        &format!("/deployments/{release}"),
        Some(&jane),
        None,
    );
    assert!(page.text.contains("Cancel deployment"), "{}", page.text);
    let cancel = format!("/deployments/{release}/cancel");
    let forged = fetch(
        &svc,
        "POST",
        &cancel,
        Some(&jane),
        Some(&[("comment", "x")]),
    );
    assert_eq!(forged.status, 403);
    let done = fetch(
        &svc,
        "POST",
        &cancel,
        Some(&jane),
        Some(&[("csrf", &page.csrf()), ("comment", "not this week")]),
    );
    assert_eq!(done.status, 303, "{}", done.text);
    let (_, view) = svc.get(&format!("/v1/deployments/{release}"));
    assert_eq!(view["deployment"]["status"], "CANCELLED", "{view:#}");
    let last = view["approvals"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "CANCEL", "{view:#}");
    assert_eq!(last["actor"], "jane", "{view:#}");
    assert_eq!(last["comment"], "not this week", "{view:#}");
    // The page of a cancelled deployment offers no cancel any more.
    let page = fetch(
        &svc,
        "GET",
        &format!("/deployments/{release}"),
        Some(&jane),
        None,
    );
    assert!(!page.text.contains("Cancel deployment"), "{}", page.text);
}

#[test]
fn a_failed_release_is_retried_from_its_page_as_a_new_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    // The local engine fails every rollout to staging, the release's first stage.
    let config = tmp.path().join("infrastream.toml");
    std::fs::write(
        &config,
        "[engine]\ncommand = 'test \"$ENVIRONMENT\" != staging'\n",
    )
    .unwrap();
    let svc = Service::start(
        &tmp.path().join("svc"),
        &["--config", config.to_str().unwrap()],
    );
    all_built(&svc, &tmp.path().join("ci"));
    let (code, body) = svc.as_actor(
        "jane",
        "/v1/releases",
        &serde_json::json!({ "applicationSet": "shop", "bundle": "2026.12" }),
    );
    assert_eq!(code, 202, "{body}");
    let failed = body["deployments"][0].as_str().unwrap().to_string();
    let view = svc.wait(&failed, &["FAILED"]);
    assert_eq!(
        view["deployment"]["stages"][0]["status"], "FAILED",
        "{view:#}"
    );
    svc.settle();

    let omar = sign_in(&svc, "omar");
    let page = fetch(
        &svc,
        "GET",
        &format!("/deployments/{failed}"),
        Some(&omar),
        None,
    );
    assert!(page.text.contains(">Retry</button>"), "{}", page.text);
    let retry = format!("/deployments/{failed}/retry");
    let forged = fetch(&svc, "POST", &retry, Some(&omar), Some(&[]));
    assert_eq!(forged.status, 403, "no CSRF token: {}", forged.text);
    let releases = |svc: &Service| {
        let (_, list) = svc.get("/v1/deployments?track=RELEASE&applicationSet=shop");
        list.as_array()
            .unwrap_or_else(|| panic!("not a list: {list}"))
            .len()
    };
    assert_eq!(releases(&svc), 1, "the forged form started nothing");

    // The retry is a new attempt of the same bundle, and the page it lands on is that attempt.
    let done = fetch(
        &svc,
        "POST",
        &retry,
        Some(&omar),
        Some(&[("csrf", &page.csrf())]),
    );
    assert_eq!(done.status, 303, "{}", done.text);
    let attempt = done
        .location()
        .strip_prefix("/deployments/")
        .unwrap_or_else(|| panic!("not a deployment's page: {}", done.location()))
        .to_string();
    assert_ne!(attempt, failed, "a new attempt, not the failed one");
    let (_, view) = svc.get(&format!("/v1/deployments/{attempt}"));
    assert_eq!(view["deployment"]["track"], "RELEASE", "{view:#}");
    assert_eq!(view["deployment"]["bundle"], "2026.12", "{view:#}");
    assert_eq!(view["deployment"]["requestedBy"], "omar", "{view:#}");
    let (_, old) = svc.get(&format!("/v1/deployments/{failed}"));
    assert_eq!(
        old["deployment"]["status"], "FAILED",
        "the failed attempt stays as it was"
    );

    // Another person retrying the failed attempt from a page opened before (or the same
    // person clicking twice) is answered with the attempt already made: nothing new starts.
    let jane = sign_in(&svc, "jane");
    let stale = fetch(
        &svc,
        "GET",
        &format!("/deployments/{failed}"),
        Some(&jane),
        None,
    );
    let again = fetch(
        &svc,
        "POST",
        &retry,
        Some(&jane),
        Some(&[("csrf", &stale.csrf())]),
    );
    assert_eq!(again.status, 303, "{}", again.text);
    assert_eq!(again.location(), format!("/deployments/{attempt}"));
    svc.settle();
    assert_eq!(releases(&svc), 2);
}

#[test]
fn a_deployment_under_way_offers_no_cancel_until_the_engine_answers() {
    let tmp = tempfile::tempdir().unwrap();
    // No engine in the process: the stage stays DEPLOYING until a report arrives.
    let svc = Service::start(&tmp.path().join("svc"), &["--engine", "webhook"]);
    let commit = ci_build(&svc.dir, &tmp.path().join("ci"), "shop-api", "v1.0.0");
    let (code, body) = svc.notify("shop-api", "v1.0.0", &commit);
    assert_eq!(code, 202, "{body}");
    let id = body["deployments"][0].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let manifest_commit = loop {
        let (_, view) = svc.get(&format!("/v1/deployments/{id}"));
        let stage = &view["deployment"]["stages"][0];
        if stage["status"] == "DEPLOYING" {
            break stage["commitSha"].as_str().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never deploying: {view:#}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };

    let jane = sign_in(&svc, "jane");
    let page = fetch(
        &svc,
        "GET",
        &format!("/deployments/{id}"),
        Some(&jane),
        None,
    );
    assert_eq!(page.status, 200);
    assert!(page.text.contains("DEPLOYING"), "{}", page.text);
    assert!(!page.text.contains("Cancel deployment"), "{}", page.text);
    // A cancel posted anyway (a stale page, a hand-made form) is refused by the decision and
    // records nothing.
    let csrf = fetch(&svc, "GET", "/holds", Some(&jane), None).csrf();
    let refused = fetch(
        &svc,
        "POST",
        &format!("/deployments/{id}/cancel"),
        Some(&jane),
        Some(&[("csrf", &csrf), ("comment", "too late")]),
    );
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(ledger_len(&svc, &id), 0);
    let (_, view) = svc.get(&format!("/v1/deployments/{id}"));
    assert_eq!(view["deployment"]["status"], "IN_PROGRESS", "{view:#}");

    // The engine reports a failure: the deployment has ended its work and may be cancelled,
    // which releases what it claims.
    let (code, body) = svc.signed(
        &format!("/v1/deployments/{id}/status"),
        &serde_json::json!({
            "deployment": id, "stageIndex": 0, "status": "FAILED",
            "commitSha": manifest_commit, "message": "crash loop"
        }),
    );
    assert_eq!(code, 202, "{body}");
    svc.wait(&id, &["FAILED"]);
    let page = fetch(
        &svc,
        "GET",
        &format!("/deployments/{id}"),
        Some(&jane),
        None,
    );
    assert!(page.text.contains("Cancel deployment"), "{}", page.text);
}

#[test]
fn ci_may_say_when_the_commit_was_made() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &[]);
    let dir = svc.dir.to_string_lossy().into_owned();
    let added = crate::infrastream(&[
        "images",
        "add",
        "--dir",
        &dir,
        "--registry",
        "containers",
        "--image",
        "shop-web",
        "--tag",
        "v1.1.0",
    ]);
    assert!(added.status.success(), "{}", crate::stderr(&added));
    let notify = |committed: &str| {
        crate::infrastream(&[
            "notify",
            "--server",
            &svc.url,
            "--build-definition",
            "shop-web",
            "--container",
            "shop-web",
            "--version",
            "v1.1.0",
            "--committed-at",
            committed,
            "--id",
        ])
    };
    let bad = notify("yesterday");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        crate::stderr(&bad).contains("'yesterday' is not an RFC 3339 time"),
        "{}",
        crate::stderr(&bad)
    );
    let notified = notify("2026-12-01T10:00:00+01:00");
    assert!(notified.status.success(), "{}", crate::stderr(&notified));
    let id = crate::stdout(&notified).trim().to_string();
    let (_, view) = svc.get(&format!("/v1/deployments/{id}"));
    assert_eq!(
        view["deployment"]["build"]["committedAt"], 1_796_115_600_000_i64,
        "{view:#}"
    );
    // The API reads the same time written either way, and names the field when it cannot.
    let (code, body) = svc.call(
        "POST",
        "/v1/notifications/build",
        &[],
        Some(
            br#"{"buildDefinitionId":"shop-web","container":"shop-web","version":"v1.1.0","committedAt":"last week"}"#,
        ),
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["field"], "committedAt", "{body}");
    // Nanoseconds or microseconds where milliseconds belong: refused, not stored to skew
    // every lead time after them.
    for wrong in ["1796115600000000000", "1796115600000000"] {
        let body = format!(
            r#"{{"buildDefinitionId":"shop-web","container":"shop-web","version":"v1.1.0","committedAt":{wrong}}}"#
        );
        let (code, answer) = svc.call(
            "POST",
            "/v1/notifications/build",
            &[],
            Some(body.as_bytes()),
        );
        assert_eq!(code, 400, "{wrong}: {answer}");
        assert_eq!(answer["field"], "committedAt", "{answer}");
    }
}
