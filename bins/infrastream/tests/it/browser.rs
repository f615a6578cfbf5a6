//! The Portal in a real browser: Debian's Chromium driven through Debian's ChromeDriver (the
//! WebDriver protocol, from Rust with fantoccini), against a running `infrastream serve`.
//!
//! It walks the demo's day: a release manager signs in, opens the overview and the release,
//! approves from the page; a second one approves from the approvals inbox; production turns
//! green on the open page without a reload (the Portal's own script). Along the way: a
//! developer sees no approve button, a form stripped of its CSRF token is refused, a hostile
//! comment stays text, and axe-core (npm) finds no serious or critical accessibility
//! violation on any page. Each page is photographed into `target/portal-screenshots` (or the
//! directory `INFRASTREAM_SCREENSHOTS` names; docs/PORTAL.md shows a run's).
//!
//! `./scripts/test.sh` installs chromium, chromium-driver and axe-core when missing.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::e2e::release_awaiting_approval;
use crate::service::Service;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// ChromeDriver on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    for program in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: the Portal's browser tests run Debian's chromium and \
             chromium-driver; ./scripts/test.sh installs them (apt-get install chromium chromium-driver)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("chromedriver printed that it started")
            .unwrap();
        if line.contains("started successfully") {
            break;
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// A headless Chromium with a fresh profile, and no traffic of its own to the outside (this
/// machine's network is closed; Chromium's background services would only be refused).
async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

fn axe_source() -> String {
    let judges = std::env::var_os("INFRASTREAM_JUDGES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/judges"),
        PathBuf::from,
    );
    let path = judges.join("node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the accessibility check runs axe-core (npm); ./scripts/test.sh installs it",
            path.display()
        )
    })
}

/// Runs axe-core on the current page; fails on any serious or critical violation.
async fn accessible(c: &Client, axe: &str, page: &str) {
    c.execute(axe, vec![]).await.unwrap();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(
               r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' +
                   v.nodes.map(n => n.target.join(' ')).join(', '))));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found, json!([]), "axe-core on the {page} page");
}

fn shots() -> PathBuf {
    let dir = std::env::var_os("INFRASTREAM_SCREENSHOTS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/portal-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn photograph(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

async fn sign_in(c: &Client, server: &str, person: &str) {
    c.goto(&format!("{server}/")).await.unwrap();
    // Not signed in: the Portal asks who you are.
    assert!(c.current_url().await.unwrap().path() == "/sign-in");
    c.find(Locator::Id("person"))
        .await
        .unwrap()
        .send_keys(person)
        .await
        .unwrap();
    click(c, "form.signin button").await;
    let who = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("form.signout strong"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(who, person);
}

async fn sign_out(c: &Client) {
    click(c, "form.signout button").await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("person"))
        .await
        .unwrap();
}

/// Clicks the first element `css` finds.
async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// A call of the blocking test client from inside the browser's runtime.
fn outside<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Waits until `ready` holds, checking every quarter second, at most `seconds`.
async fn until<F, Fut>(seconds: u64, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    while !ready().await {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The text of the first element `css` finds, or "" when there is none (yet).
async fn text_of(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[test]
fn a_release_is_watched_and_approved_from_the_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &[]);
    let release = release_awaiting_approval(&svc, &tmp.path().join("ci"));
    let axe = axe_source();
    let driver = chromedriver();
    let server = svc.url.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(&driver, &tmp.path().join("profile")).await;

        // A developer sees the gate, not the button.
        sign_in(&c, &server, "sam").await;
        c.goto(&format!("{server}/deployments/{release}")).await.unwrap();
        let gate = text_of(&c, "section.gate").await;
        assert!(gate.contains("You may not answer this gate"), "{gate}");
        assert!(
            c.find_all(Locator::Css("button[value=APPROVE]")).await.unwrap().is_empty(),
            "no approve button for sam"
        );
        sign_out(&c).await;

        // jane: the overview, then the release.
        sign_in(&c, &server, "jane").await;
        let overview = text_of(&c, "main").await;
        assert!(overview.contains("Application set shop"), "{overview}");
        assert!(overview.contains("AWAITING_APPROVAL"), "{overview}");
        accessible(&c, &axe, "overview").await;
        photograph(&c, "overview").await;
        click(&c, &format!("a[href='/deployments/{release}']")).await;
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("section.gate"))
            .await
            .unwrap();
        accessible(&c, &axe, "deployment").await;
        photograph(&c, "deployment").await;

        // A form stripped of its CSRF token is refused, and nothing is recorded.
        c.execute(
            "document.querySelector('form.verdict input[name=csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
        click(&c, "form.verdict button[value=APPROVE]").await;
        let refused = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("p.error"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(refused.contains("CSRF") && refused.contains("403"), "{refused}");
        let (_, view) = outside(|| svc.get(&format!("/v1/deployments/{release}")));
        let ledger_before = view["approvals"].as_array().unwrap().len();

        // jane approves from the page, with a comment that tries to run script.
        c.goto(&format!("{server}/deployments/{release}")).await.unwrap();
        c.find(Locator::Css("form.verdict input[name=comment]"))
            .await
            .unwrap()
            .send_keys("ship it <img src=x onerror=\"window.pwned=1\">")
            .await
            .unwrap();
        click(&c, "form.verdict button[value=APPROVE]").await;
        until(10, "jane's approval shows", || async {
            text_of(&c, "section.gate").await.contains("1 more approval of 2")
        })
        .await;
        let ledger = text_of(&c, "main").await;
        assert!(
            ledger.contains("ship it <img src=x onerror=\"window.pwned=1\">"),
            "the comment is shown as text: {ledger}"
        );
        // Shown as text: the ledger holds no element the comment could have made.
        assert_eq!(
            c.execute("return document.querySelectorAll('main img').length;", vec![])
                .await
                .unwrap(),
            json!(0)
        );

        let (_, view) = outside(|| svc.get(&format!("/v1/deployments/{release}")));
        assert_eq!(view["approvals"].as_array().unwrap().len(), ledger_before + 1);
        sign_out(&c).await;

        // omar: the inbox, his approval, and production going green on the open page.
        sign_in(&c, &server, "omar").await;
        c.goto(&format!("{server}/approvals")).await.unwrap();
        let inbox = text_of(&c, "main").await;
        assert!(inbox.contains("RELEASE 2026.11"), "{inbox}");
        accessible(&c, &axe, "approvals").await;
        photograph(&c, "approvals").await;
        c.goto(&format!("{server}/holds")).await.unwrap();
        accessible(&c, &axe, "holds").await;
        photograph(&c, "holds").await;

        c.goto(&format!("{server}/deployments/{release}")).await.unwrap();
        // A mark on this page: it survives only if the page is never reloaded.
        c.execute("window.notReloaded = true;", vec![]).await.unwrap();
        let approve = json!({ "stageIndex": 1, "action": "APPROVE", "comment": "lgtm" });
        // The approval comes from elsewhere (the API, as the CLI sends it): the open page
        // must notice by itself.
        let (code, body) = outside(|| {
            svc.as_actor("omar", &format!("/v1/deployments/{release}/approvals"), &approve)
        });
        assert!(code == 202 || code == 200, "{body}");
        until(60, "production never turned green on the open page", || async {
            text_of(&c, "main > p .badge").await == "SUCCEEDED"
        })
        .await;
        assert_eq!(
            c.execute("return window.notReloaded === true;", vec![]).await.unwrap(),
            json!(true),
            "the page updated itself, without a reload"
        );
        let stages: Value = c
            .execute(
                "return [...document.querySelectorAll('table:first-of-type tbody tr td:nth-child(3)')].map(td => td.textContent);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(stages, json!(["SUCCEEDED", "SUCCEEDED"]), "staging and production");
        photograph(&c, "released").await;
        c.goto(&format!("{server}/dora?days=7")).await.unwrap();
        assert!(text_of(&c, "main").await.contains("Deployment frequency"));
        accessible(&c, &axe, "DORA metrics").await;
        photograph(&c, "dora").await;
        c.goto(&format!("{server}/releases/new?set=shop&bundle=2026.12"))
            .await
            .unwrap();
        assert!(text_of(&c, "main").await.contains("What a release of shop carries"));
        accessible(&c, &axe, "release").await;
        photograph(&c, "release").await;
        c.close().await.unwrap();
    });
}
