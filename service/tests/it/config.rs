//! The configuration file, environment overrides and the defaults derived from them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cd_service::Config;
use cd_service::config::{EngineKind, RegistryKind, StoreKind};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

#[test]
fn no_configuration_at_all_means_the_embedded_defaults() {
    let c = Config::load(None).unwrap().with_env(&env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from(".infrastream"));
    assert_eq!(c.store.kind, StoreKind::Sqlite);
    assert_eq!(c.registry.kind, RegistryKind::Layout);
    assert_eq!(c.engine.kind, EngineKind::Local);
    assert_eq!(
        c.secret_file(),
        PathBuf::from(".infrastream/webhook-secret")
    );
    // On loopback the actor header is trusted and notifications need no signature.
    assert!(c.trusts_actor_header());
    assert!(!c.signs_notifications());
}

#[test]
fn a_full_file_is_read() {
    let text = r#"
listen = "0.0.0.0:9000"
data_dir = "/var/lib/infrastream"

[store]
kind = "sqlite"
path = "/var/lib/infrastream/state.db"

[manifests]
remote = "https://git.example/manifests.git"
branch = "production"

[registry]
kind = "oci"
url = "https://registry.example"
prefix = "team/"

[engine]
kind = "webhook"

[auth.oidc]
issuer = "https://token.actions.githubusercontent.com"
audience = "infrastream"

[pipeline]
engine_timeout_ms = 600000
forbid_author_approval = ["main"]
create_releases = true
"#;
    let c = Config::from_toml("cd.toml", text).unwrap();
    c.check().unwrap();
    assert_eq!(c.manifests.branch, "production");
    assert_eq!(c.registry.prefix, "team/");
    assert_eq!(c.engine.kind, EngineKind::Webhook);
    assert_eq!(c.auth.oidc.as_ref().unwrap().actor_claim, "email");
    assert_eq!(c.settings().engine_timeout_ms, 600_000);
    assert!(c.settings().create_releases);
    // Off loopback, with OIDC: the header is not trusted and notifications must be signed.
    assert!(!c.trusts_actor_header());
    assert!(c.signs_notifications());
}

#[test]
fn errors_name_the_file_the_line_and_the_field() {
    let e = Config::from_toml(
        "cd.toml",
        "listen = \"127.0.0.1:1\"\n[store]\nkind = \"postgres\"\n",
    )
    .unwrap_err();
    assert_eq!(e.source_name, "cd.toml");
    assert_eq!(e.field, "line 3");
    assert!(e.reason.contains("postgres"), "{e}");
    let e = Config::from_toml("cd.toml", "[registry]\nurl_typo = \"x\"\n").unwrap_err();
    assert!(e.reason.contains("url_typo"), "{e}");
    let e = Config::from_toml("cd.toml", "[registry]\nkind = \"oci\"\n")
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(e.field, "registry.url");
    let e = Config::from_toml(
        "cd.toml",
        "[auth.oidc]\nissuer = \"http://evil.example\"\naudience = \"a\"\n",
    )
    .unwrap()
    .check()
    .unwrap_err();
    assert_eq!(e.field, "auth.oidc.issuer");
    let e = Config::load(Some(std::path::Path::new("/no/such/cd.toml"))).unwrap_err();
    assert_eq!(e.source_name, "/no/such/cd.toml");
}

#[test]
fn environment_variables_override_the_file_and_name_themselves_when_wrong() {
    let c = Config::from_toml("cd.toml", "listen = \"127.0.0.1:1\"\n")
        .unwrap()
        .with_env(&env(&[
            ("INFRASTREAM_LISTEN", "127.0.0.1:2"),
            ("INFRASTREAM_REGISTRY", "oci"),
            ("INFRASTREAM_REGISTRY_URL", "http://127.0.0.1:5000"),
            ("INFRASTREAM_ENGINE", "webhook"),
            ("INFRASTREAM_OIDC_ISSUER", "https://issuer.example"),
            ("INFRASTREAM_OIDC_AUDIENCE", "cd"),
        ]))
        .unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:2");
    assert_eq!(c.registry.url.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(c.engine.kind, EngineKind::Webhook);
    assert_eq!(c.auth.oidc.unwrap().audience, "cd");
    let e = Config::default()
        .with_env(&env(&[("INFRASTREAM_STORE", "mongodb")]))
        .unwrap_err();
    assert_eq!(e.source_name, "environment variable INFRASTREAM_STORE");
    assert!(e.reason.contains("mongodb"), "{e}");
    let e = Config::default()
        .with_env(&env(&[("INFRASTREAM_LISTEN", "everywhere")]))
        .unwrap_err();
    assert_eq!(e.field, "listen");
}

#[test]
fn a_header_cannot_stand_in_for_oidc() {
    let e = Config::from_toml(
        "cd.toml",
        "[auth]\ntrust_actor_header = true\n[auth.oidc]\nissuer = \"https://issuer.example\"\naudience = \"cd\"\n",
    )
    .unwrap()
    .check()
    .unwrap_err();
    assert_eq!(e.field, "auth.trust_actor_header");
}

#[test]
fn the_session_key_is_never_the_webhook_secret() {
    let e = Config::from_toml(
        "cd.toml",
        "[auth]\nwebhook_secret_file = \"/run/s\"\nsession_key_file = \"/run/s\"\n",
    )
    .unwrap()
    .check()
    .unwrap_err();
    assert_eq!(e.field, "auth.session_key_file");
    // The variable sets it too, and two files are fine.
    let c = Config::from_toml("cd.toml", "[auth]\nwebhook_secret_file = \"/run/s\"\n")
        .unwrap()
        .with_env(&env(&[("INFRASTREAM_SESSION_KEY_FILE", "/run/k")]))
        .unwrap();
    assert_eq!(c.session_key_file(), std::path::PathBuf::from("/run/k"));
    let e = Config::from_toml("cd.toml", "[auth]\nwebhook_secret_file = \"/run/s\"\n")
        .unwrap()
        .with_env(&env(&[("INFRASTREAM_SESSION_KEY_FILE", "/run/s")]))
        .unwrap_err();
    assert_eq!(e.field, "auth.session_key_file");
}

#[test]
fn credentials_never_print() {
    let c = Config::from_toml(
        "cd.toml",
        "[manifests]\nremote = \"https://x-access-token:ghs_secret@github.com/northwind/manifests.git\"\n",
    )
    .unwrap()
    .with_env(&env(&[("INFRASTREAM_GIT_TOKEN", "ghs_other")]))
    .unwrap();
    assert_eq!(c.manifests.token.as_ref().unwrap().0, "ghs_other");
    let printed = format!("{:?}", c.redacted());
    assert!(!printed.contains("ghs_"), "{printed}");
    assert!(
        printed.contains("https://***@github.com/northwind/manifests.git"),
        "{printed}"
    );
    assert_eq!(
        cd_service::config::redact_url("http://127.0.0.1:5000/v2"),
        "http://127.0.0.1:5000/v2"
    );
}

#[test]
fn the_webhook_secret_is_generated_once_and_an_empty_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state").join("webhook-secret");
    let first = cd_service::local::webhook_secret(&path).unwrap();
    assert_eq!(first.len(), 64, "32 random bytes, hex");
    assert_eq!(cd_service::local::webhook_secret(&path).unwrap(), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    std::fs::write(&path, "  \n").unwrap();
    let e = cd_service::local::webhook_secret(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is empty"), "{e}");
}

#[test]
fn production_sections_are_checked_whole() {
    let check = |text: &str| Config::from_toml("cd.toml", text).unwrap().check();
    let e = check(
        "[registry]\nkind = \"artifact_registry\"\nurl = \"https://europe-west1-docker.pkg.dev\"\nprefix = \"p/containers\"\n",
    )
    .unwrap_err();
    assert!(e.reason.contains("with the slash"), "{e}");
    check("[registry]\nkind = \"artifact_registry\"\nurl = \"https://europe-west1-docker.pkg.dev\"\nprefix = \"p/containers/\"\n").unwrap();
}

#[test]
fn a_binarys_own_sections_are_left_to_it_and_still_refused_elsewhere() {
    let text = "[pubsub]\nproject = \"p\"\n\n[store]\npath = \"s.db\"\n";
    // The service alone does not know [pubsub].
    let e = Config::from_toml("cd.toml", text).unwrap_err();
    assert!(e.reason.contains("unknown field `pubsub`"), "{e}");
    // A binary that declares it gets the rest read by the service, and its section by itself.
    let c = Config::from_toml_with("cd.toml", text, &["pubsub"]).unwrap();
    assert_eq!(c.store.path, Some("s.db".into()));
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Own {
        pubsub: std::collections::BTreeMap<String, String>,
    }
    let own: Own = cd_service::config::sections("cd.toml", text, &["pubsub"]).unwrap();
    assert_eq!(own.pubsub["project"], "p");
    // A bad value in the service's part keeps its line in the whole file.
    let e = Config::from_toml_with(
        "cd.toml",
        "[pubsub]\nx = 1\n[engine]\npoll_ms = \"x\"\n",
        &["pubsub"],
    )
    .unwrap_err();
    assert_eq!(e.field, "line 4", "{e}");
}
