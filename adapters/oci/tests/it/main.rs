//! cd-oci against a real `docker-registry` (started and stopped here) and image layouts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod token_server;

use std::collections::BTreeMap;

use async_trait::async_trait;
use cd_contract::{RegistryFixture, registry_contract};
use cd_oci::{Auth, Endpoint, OciLayout, OciRegistry};
use cd_ports::{Registry, RegistryError};

use cd_contract::docker_registry::{DockerRegistry, RegistryAuth};
use token_server::TokenServer;

struct Served {
    client: OciRegistry,
    namespace: String,
}

#[async_trait]
impl RegistryFixture for Served {
    fn registry(&self) -> &dyn Registry {
        &self.client
    }
    fn name(&self) -> String {
        "containers".into()
    }
    fn namespace(&self) -> String {
        self.namespace.clone()
    }
    async fn push(&self, image: &str, tag: &str, seed: &str) -> String {
        self.client
            .push_image("containers", image, tag, seed)
            .await
            .unwrap()
    }
}

fn client(url: &str, auth: Auth) -> OciRegistry {
    let endpoint = Endpoint {
        url: url.to_string(),
        prefix: "northwind/".into(),
        auth,
    };
    OciRegistry::new(BTreeMap::from([("containers".to_string(), endpoint)]), None)
        .unwrap()
        .with_page_size(50)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_registry_keeps_the_registry_contract() {
    let registry = DockerRegistry::start(None);
    let fixture = Served {
        client: client(&registry.url(), Auth::Anonymous),
        namespace: "contract/".into(),
    };
    registry_contract(&fixture).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_is_required_and_used() {
    let registry = DockerRegistry::start(Some(("ci", "s3cret")));
    let anonymous = client(&registry.url(), Auth::Anonymous);
    let denied = anonymous.list_tags("containers", "app", "").await;
    assert!(
        matches!(denied, Err(RegistryError::Denied(_))),
        "{denied:?}"
    );
    let wrong = client(
        &registry.url(),
        Auth::Basic {
            username: "ci".into(),
            password: "nope".into(),
        },
    );
    assert!(matches!(
        wrong.resolve("containers", "app", "v1").await,
        Err(RegistryError::Denied(_))
    ));
    let fixture = Served {
        client: client(
            &registry.url(),
            Auth::Basic {
                username: "ci".into(),
                password: "s3cret".into(),
            },
        ),
        namespace: "authed/".into(),
    };
    registry_contract(&fixture).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_fetched_from_the_challenge_realm() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = TokenServer::start(
        dir.path(),
        "ci",
        "t0ken",
        "infrastream-test-issuer",
        "test-registry",
    );
    let registry = DockerRegistry::start_with(RegistryAuth::Token {
        realm: format!("http://127.0.0.1:{}/token", issuer.port),
        issuer: "infrastream-test-issuer",
        service: "test-registry",
        cert: &issuer.cert,
    });
    let anonymous = client(&registry.url(), Auth::Anonymous);
    let denied = anonymous.list_tags("containers", "app", "").await;
    assert!(
        matches!(denied, Err(RegistryError::Denied(_))),
        "no credentials, no token: {denied:?}"
    );
    let fixture = Served {
        client: client(
            &registry.url(),
            Auth::Basic {
                username: "ci".into(),
                password: "t0ken".into(),
            },
        ),
        namespace: "bearer/".into(),
    };
    registry_contract(&fixture).await;
}

/// A token one registry issued is never sent to another, even for a repository of the same
/// name: the second registry here records what it receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_goes_only_to_the_registry_that_issued_it() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = TokenServer::start(
        dir.path(),
        "ci",
        "t0ken",
        "infrastream-test-issuer",
        "test-registry",
    );
    let registry = DockerRegistry::start_with(RegistryAuth::Token {
        realm: format!("http://127.0.0.1:{}/token", issuer.port),
        issuer: "infrastream-test-issuer",
        service: "test-registry",
        cert: &issuer.cert,
    });
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_url = format!("http://{}", other.local_addr().unwrap());
    let seen = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        let (mut stream, _) = other.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        String::from_utf8_lossy(&request).to_ascii_lowercase()
    });
    let endpoint = |url: &str, auth: Auth| Endpoint {
        url: url.to_string(),
        prefix: String::new(),
        auth,
    };
    let basic = Auth::Basic {
        username: "ci".into(),
        password: "t0ken".into(),
    };
    let client = OciRegistry::new(
        BTreeMap::from([
            ("issuing".to_string(), endpoint(&registry.url(), basic)),
            ("other".to_string(), endpoint(&other_url, Auth::Anonymous)),
        ]),
        None,
    )
    .unwrap();
    // A token for `repository:app:pull` at the first registry, then the same scope elsewhere.
    let tags = client.list_tags("issuing", "app", "").await;
    assert!(
        !matches!(tags, Err(RegistryError::Denied(_))),
        "the issuing registry answers: {tags:?}"
    );
    let _ = client.list_tags("other", "app", "").await;
    let request = seen.join().unwrap();
    assert!(request.starts_with("get /v2/app/tags/list"), "{request}");
    assert!(!request.contains("authorization"), "{request}");
}

#[tokio::test]
async fn an_unreachable_registry_is_unavailable() {
    let c = client("http://127.0.0.1:9", Auth::Anonymous);
    let err = c.list_tags("containers", "app", "").await.unwrap_err();
    assert!(matches!(err, RegistryError::Unavailable(_)), "{err:?}");
    let err = c.list_tags("elsewhere", "app", "").await.unwrap_err();
    assert!(
        matches!(err, RegistryError::NotFound(ref m) if m.contains("no endpoint configured")),
        "{err:?}"
    );
}

struct Layout {
    layout: OciLayout,
}

#[async_trait]
impl RegistryFixture for Layout {
    fn registry(&self) -> &dyn Registry {
        &self.layout
    }
    fn name(&self) -> String {
        "containers".into()
    }
    fn namespace(&self) -> String {
        String::new()
    }
    async fn push(&self, image: &str, tag: &str, seed: &str) -> String {
        self.layout
            .push_image("containers", image, tag, seed)
            .unwrap()
    }
}

#[tokio::test]
async fn an_image_layout_keeps_the_registry_contract() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Layout {
        layout: OciLayout::new(dir.path()),
    };
    registry_contract(&fixture).await;
    // What is on disk is a valid image layout.
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("containers/contract-app/index.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(names.contains(&"shop-2026.11-rc.0"), "{names:?}");
    let layout: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("containers/contract-app/oci-layout")).unwrap(),
    )
    .unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    assert!(
        dir.path()
            .join("containers/contract-app/blobs/sha256")
            .join(digest)
            .exists()
    );
    let bad = fixture
        .layout
        .list_tags("containers", "../escape", "")
        .await;
    assert!(matches!(bad, Err(RegistryError::Invalid(_))));
}

/// Short-lived credentials, as Artifact Registry's `oauth2accesstoken` with a Google token:
/// asked for at each use, so a rotated password is picked up.
struct Rotating {
    password: std::sync::Mutex<String>,
    asked: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl cd_oci::Credentials for Rotating {
    async fn basic(&self) -> Result<(String, String), RegistryError> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok((
            "oauth2accesstoken".into(),
            self.password.lock().unwrap().clone(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provided_credentials_are_asked_for_at_each_use() {
    let registry = DockerRegistry::start(Some(("oauth2accesstoken", "s3cret")));
    let creds = std::sync::Arc::new(Rotating {
        password: std::sync::Mutex::new("expired".into()),
        asked: std::sync::atomic::AtomicUsize::new(0),
    });
    let c = client(&registry.url(), Auth::Provider(creds.clone()));
    assert!(matches!(
        c.list_tags("containers", "app", "").await,
        Err(RegistryError::Denied(_))
    ));
    *creds.password.lock().unwrap() = "s3cret".into();
    let fixture = Served {
        client: c,
        namespace: "provided/".into(),
    };
    registry_contract(&fixture).await;
    assert!(creds.asked.load(std::sync::atomic::Ordering::SeqCst) > 2);
}

/// Artifact Registry's flow: a bearer challenge, answered by exchanging `oauth2accesstoken`
/// and a fresh access token (asked for from the provider) at the token realm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provided_credentials_are_exchanged_for_bearer_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = TokenServer::start(
        dir.path(),
        "oauth2accesstoken",
        "ya29.access",
        "infrastream-test-issuer",
        "test-registry",
    );
    let registry = DockerRegistry::start_with(RegistryAuth::Token {
        realm: format!("http://127.0.0.1:{}/token", issuer.port),
        issuer: "infrastream-test-issuer",
        service: "test-registry",
        cert: &issuer.cert,
    });
    let creds = std::sync::Arc::new(Rotating {
        password: std::sync::Mutex::new("ya29.access".into()),
        asked: std::sync::atomic::AtomicUsize::new(0),
    });
    let fixture = Served {
        client: client(&registry.url(), Auth::Provider(creds.clone())),
        namespace: "ar/".into(),
    };
    registry_contract(&fixture).await;
    assert!(creds.asked.load(std::sync::atomic::Ordering::SeqCst) > 0);
}

#[test]
fn an_image_layout_is_imported_blob_by_blob_and_its_tag_never_moves() {
    let tmp = tempfile::tempdir().unwrap();
    // A layout as `skopeo copy ... oci:DIR` leaves it: one image, named by its ref.
    let source = OciLayout::new(&tmp.path().join("built"));
    let digest = source
        .push_image("r", "app", "latest", "the application")
        .unwrap();
    let other = source
        .push_image("r", "app", "other", "another build")
        .unwrap();
    let dir = tmp.path().join("built/r/app");
    let target = OciLayout::new(&tmp.path().join("registry"));

    let refused = target.import("containers", "shop-api", "v1.0.0", &dir, None);
    assert!(
        matches!(&refused, Err(RegistryError::Invalid(m)) if m.contains("holds 2 images") && m.contains("latest")),
        "{refused:?}"
    );
    let imported = target
        .import("containers", "shop-api", "v1.0.0", &dir, Some("latest"))
        .unwrap();
    assert_eq!(imported, digest);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(target.resolve("containers", "shop-api", "v1.0.0")),
        Ok(digest.clone())
    );
    // Every blob came along: the image can be tagged further and copied on.
    let copied = tmp.path().join("registry/containers/shop-api/blobs/sha256");
    assert_eq!(
        std::fs::read_dir(&copied).unwrap().count(),
        3,
        "manifest, config, layer"
    );
    rt.block_on(target.create_tag("containers", "shop-api", "rc.0", &digest))
        .unwrap();
    // The same import again is done; another image under the same tag is refused.
    assert_eq!(
        target.import("containers", "shop-api", "v1.0.0", &dir, Some("latest")),
        Ok(digest.clone())
    );
    let moved = target.import("containers", "shop-api", "v1.0.0", &dir, Some("other"));
    assert_eq!(
        moved,
        Err(RegistryError::AlreadyExists {
            digest: digest.clone()
        })
    );
    assert_ne!(other, digest);
    // A blob that does not match its digest is refused, and nothing is tagged.
    let third = source
        .push_image("r", "app", "third", "a third build")
        .unwrap();
    let hex = third.strip_prefix("sha256:").unwrap();
    std::fs::write(dir.join("blobs/sha256").join(hex), b"tampered").unwrap();
    let tampered = target.import("containers", "shop-api", "v2.0.0", &dir, Some("third"));
    assert!(
        matches!(&tampered, Err(RegistryError::Invalid(m)) if m.contains("its content has digest")),
        "{tampered:?}"
    );
    assert_eq!(
        rt.block_on(target.list_tags("containers", "shop-api", "")),
        Ok(vec!["rc.0".to_string(), "v1.0.0".to_string()])
    );
    let missing = target.import(
        "containers",
        "shop-api",
        "v3",
        &tmp.path().join("nothing"),
        None,
    );
    assert!(
        matches!(&missing, Err(RegistryError::Invalid(m)) if m.contains("not an OCI image layout")),
        "{missing:?}"
    );
}
