//! The attack table (docs/TOKEN-BROKER.md): each row refused with its status and reason,
//! nothing asked of GitHub on its behalf, nothing fetched where a token points; the one valid
//! request gets exactly the scope it asked for, and no secret reaches a log line.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cd_github_standin::actions_oidc::RsaKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::harness::{AUDIENCE, Broker, Options};

fn libs_read() -> Value {
    json!({ "repositories": ["shop-libs"], "permissions": { "contents": "read" } })
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_is_refused_and_only_the_valid_request_reaches_github() {
    let broker = Broker::start(Options::default()).await;
    let claims = broker.claims();
    let stranger = RsaKey::generate(broker.dir.path(), "k1-stranger");
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let now = claims["iat"].as_i64().unwrap() + 5;

    // alg none: an unsigned token.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
        b64(&claims)
    );
    let none_signed = format!("{none}{}", URL_SAFE_NO_PAD.encode("x"));
    // HS256 keyed with the issuer's public key, as PEM (the classic confusion).
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let hmac = encode(
        &hs,
        &claims,
        &EncodingKey::from_secret(broker.issuer.key.public_pem.as_bytes()),
    )
    .unwrap();
    // RS384 with the issuer's own key: a valid signature of an algorithm not accepted.
    let mut rs384 = Header::new(Algorithm::RS384);
    rs384.kid = Some("k1".into());
    let rs384 = encode(
        &rs384,
        &claims,
        &EncodingKey::from_rsa_der(&broker.issuer.key.der),
    )
    .unwrap();
    // Another key, with jku (and x5u) pointing at a server that would serve it.
    let mut forged = Header::new(Algorithm::RS256);
    forged.kid = Some("k1".into());
    forged.jku = Some(format!("{}/keys", broker.trap.url));
    forged.x5u = Some(format!("{}/cert", broker.trap.url));
    let jku = stranger.sign_with(forged, &claims);
    let mut forged_kid = Header::new(Algorithm::RS256);
    forged_kid.kid = Some("attacker".into());
    forged_kid.jku = Some(format!("{}/keys", broker.trap.url));
    let jku_unknown_kid = stranger.sign_with(forged_kid, &claims);
    // The same claims, issued by the trap: nothing may be fetched from it.
    let foreign_issuer = broker.issuer.sign(&with("iss", json!(broker.trap.url)));
    let mut no_kid = Header::new(Algorithm::RS256);
    no_kid.kid = None;
    let no_kid = broker.issuer.key.sign_with(no_kid, &claims);

    let pr_from_fork = {
        let mut c = with("event_name", json!("pull_request"));
        c["ref"] = json!("refs/pull/9/merge");
        c
    };
    let prt = with("event_name", json!("pull_request_target"));
    let sign = |c: &Value| broker.issuer.sign(c);
    let rows: Vec<(&str, String, Value, u16, &str)> = vec![
        ("alg none", none, libs_read(), 401, "malformed"),
        (
            "alg none, signed",
            none_signed,
            libs_read(),
            401,
            "algorithm",
        ),
        (
            "HS256 with the public key",
            hmac,
            libs_read(),
            401,
            "algorithm",
        ),
        ("RS384", rs384, libs_read(), 401, "algorithm"),
        (
            "another key, jku elsewhere",
            jku,
            libs_read(),
            401,
            "signature",
        ),
        (
            "another key, its own kid, jku elsewhere",
            jku_unknown_kid,
            libs_read(),
            401,
            "unknown_key",
        ),
        ("another issuer", foreign_issuer, libs_read(), 401, "issuer"),
        ("no kid", no_kid, libs_read(), 401, "no_kid"),
        (
            "wrong aud",
            sign(&with("aud", json!("https://elsewhere.example"))),
            libs_read(),
            401,
            "audience",
        ),
        (
            "aud as a list",
            sign(&with("aud", json!([AUDIENCE]))),
            libs_read(),
            401,
            "audience",
        ),
        (
            "expired",
            sign(&with("exp", json!(now - 120))),
            libs_read(),
            401,
            "expired",
        ),
        (
            "nbf in the future",
            sign(&with("nbf", json!(now + 600))),
            libs_read(),
            401,
            "not_yet_valid",
        ),
        (
            "iat in the future",
            sign(&with("iat", json!(now + 600))),
            libs_read(),
            401,
            "issued_in_future",
        ),
        (
            "no repository_id",
            sign(&{
                let mut c = claims.clone();
                c.as_object_mut().unwrap().remove("repository_id");
                c
            }),
            libs_read(),
            401,
            "claims",
        ),
        (
            "malformed",
            "not-a-token".into(),
            libs_read(),
            401,
            "malformed",
        ),
        (
            "oversized",
            format!(
                "{}.{}.{}",
                "e".repeat(4000),
                "e".repeat(4000),
                "e".repeat(400)
            ),
            libs_read(),
            401,
            "too_large",
        ),
        (
            "renamed repository",
            sign(&with("repository_id", json!("700000999"))),
            libs_read(),
            403,
            "no_policy",
        ),
        (
            "another repository",
            sign(&with("repository", json!("northwind/shop-web"))),
            libs_read(),
            403,
            "no_policy",
        ),
        (
            "unlisted ref",
            sign(&with("ref", json!("refs/heads/feature/x"))),
            libs_read(),
            403,
            "no_policy",
        ),
        (
            "unlisted event",
            sign(&with("event_name", json!("schedule"))),
            libs_read(),
            403,
            "no_policy",
        ),
        (
            "unlisted workflow",
            sign(&with(
                "job_workflow_ref",
                json!("evil/ci/.github/workflows/x.yml@refs/heads/main"),
            )),
            libs_read(),
            403,
            "no_policy",
        ),
        (
            "pull request from a fork",
            sign(&pr_from_fork),
            libs_read(),
            403,
            "no_policy",
        ),
        (
            "pull_request_target",
            sign(&prt),
            libs_read(),
            403,
            "no_policy",
        ),
        (
            "a repository beyond the grant",
            sign(&claims),
            json!({"repositories": ["shop-libs", "shop-api"], "permissions": {"contents": "read"}}),
            403,
            "outside_grant",
        ),
        (
            "a permission beyond the grant",
            sign(&claims),
            json!({"repositories": ["shop-libs"], "permissions": {"contents": "write"}}),
            403,
            "outside_grant",
        ),
        (
            "a permission not granted",
            sign(&claims),
            json!({"repositories": ["shop-libs"], "permissions": {"contents": "read", "issues": "read"}}),
            403,
            "outside_grant",
        ),
        (
            "no repositories",
            sign(&claims),
            json!({"repositories": [], "permissions": {"contents": "read"}}),
            400,
            "bad_request",
        ),
        (
            "no permissions field",
            sign(&claims),
            json!({"repositories": ["shop-libs"]}),
            400,
            "bad_request",
        ),
        (
            "an unknown level",
            sign(&claims),
            json!({"repositories": ["shop-libs"], "permissions": {"contents": "all"}}),
            400,
            "bad_request",
        ),
        (
            "an owner in the name",
            sign(&claims),
            json!({"repositories": ["other/shop-libs"], "permissions": {"contents": "read"}}),
            400,
            "bad_request",
        ),
    ];
    for (name, token, body, status, reason) in &rows {
        let (got, answer) = broker.ask(token, body).await;
        assert_eq!(
            (got, answer["reason"].as_str()),
            (*status, Some(*reason)),
            "{name}: {answer}"
        );
        assert!(answer["error"].is_string(), "{name}: {answer}");
    }

    // No token at all, with a body larger than the limit: the credential comes first.
    let (status, answer, headers) = broker.post(None, vec![b'x'; 1024 * 1024]).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (401, Some("missing_token"))
    );
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (status, answer, _) = broker.post(Some("Basic dXNlcjpwdw=="), "{}").await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (401, Some("missing_token"))
    );
    // Not JSON, and too large, with a good token.
    let good = broker.token();
    let (status, answer, _) = broker
        .post(Some(&format!("Bearer {good}")), "repositories=shop-libs")
        .await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("body")));
    let (status, answer, _) = broker
        .post(Some(&format!("Bearer {good}")), vec![b' '; 65 * 1024])
        .await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (413, Some("body_too_large"))
    );

    // Nothing was asked of GitHub, nothing fetched where the tokens pointed.
    assert!(broker.issued().is_empty(), "{:?}", broker.issued());
    assert_eq!(
        broker.trap.hits(),
        0,
        "the broker fetched from a token's URL"
    );

    // A flood of made-up key ids within the minute costs the issuer no more than one fetch
    // (the schedule itself, with short intervals, is held by cd-oidc's own tests).
    let before = broker.issuer.key_fetches();
    let floods: Vec<_> = (0..40)
        .map(|i| {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(format!("made-up-{i}"));
            broker.issuer.key.sign_with(header, &claims)
        })
        .collect();
    let mut pending = Vec::new();
    for t in floods {
        let client = reqwest::Client::new();
        let url = format!("{}/v1/token", broker.url);
        pending.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(t)
                .body(libs_read().to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for p in pending {
        assert_eq!(p.await.unwrap(), 401);
    }
    assert!(
        broker.issuer.key_fetches() <= before + 1,
        "{} key fetches for a flood of unknown kids (was {before})",
        broker.issuer.key_fetches()
    );

    // The valid request: exactly the scope asked for, from GitHub, not stored.
    let ask = json!({ "repositories": ["Shop-Libs", "base-images"], "permissions": { "contents": "read" } });
    let (status, body, headers) = broker
        .post(Some(&format!("Bearer {good}")), ask.to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let issued = broker.issued();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        issued[0],
        json!({ "repositories": ["base-images", "shop-libs"], "permissions": { "contents": "read" } })
    );
    let token = body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_"));
    // As GitHub answers: what was asked, and the metadata read every such token has.
    assert_eq!(
        body["permissions"],
        json!({ "contents": "read", "metadata": "read" })
    );
    let mut names: Vec<&str> = body["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["base-images", "shop-libs"]);
    assert!(
        time::OffsetDateTime::parse(
            body["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    // A second request gets a second token: none is cached or reused.
    let (status, again) = broker.ask(&good, &ask).await;
    assert_eq!(status, 200);
    assert_ne!(again["token"], body["token"]);

    // The audit trail has each issuance with its claims and the token's hash, never a token.
    let audit = std::fs::read_to_string(&broker.audit).unwrap();
    let events: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let issued_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "token.issued")
        .collect();
    assert_eq!(issued_events.len(), 2);
    assert_eq!(
        issued_events[0]["subject"]["repository"],
        "northwind/shop-api"
    );
    assert_eq!(issued_events[0]["subject"]["runId"], "9000");
    assert_eq!(issued_events[0]["policy"], "shop-api-builds");
    use sha2::Digest as _;
    assert_eq!(
        issued_events[0]["tokenSha256"],
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    );

    // No log line, no audit line holds an issued token, an OIDC token, an App JWT or the key.
    let logs = broker.logs();
    assert!(logs.contains("token issued"), "{logs}");
    for (what, text) in [("log", &logs), ("audit", &audit)] {
        for secret in [
            token.as_str(),
            again["token"].as_str().unwrap(),
            good.as_str(),
        ] {
            assert!(!text.contains(secret), "a token in the {what}");
        }
        // Every JWT (OIDC or App) starts with the base64 of `{"`.
        assert!(!text.contains("eyJ"), "a JWT in the {what}: {text}");
        assert!(!text.contains("PRIVATE KEY"), "the key in the {what}");
    }

    // /metrics counts, by reason, and holds no token either.
    let (status, metrics) = broker.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("token_broker_issued_total 2"), "{metrics}");
    assert!(
        metrics.contains("token_broker_refused_total{reason=\"algorithm\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("token_broker_refused_total{reason=\"no_policy\"} 7"),
        "{metrics}"
    );
    assert!(!metrics.contains("ghs_") && !metrics.contains("eyJ"));
}
