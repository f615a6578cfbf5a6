//! A real `docker-registry` (Debian's package of CNCF Distribution) on a free port.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry, stopped when dropped.
#[derive(Debug)]
pub struct DockerRegistry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// `s3cret` hashed with bcrypt (cost 4): the registry's htpasswd format.
const HTPASSWD_S3CRET: &str = "$2b$04$fdfRZSB1S9QPWXxZo20csuL8C5FTEPAhLo1zWmM9ehjXnIdcSEFDy";

fn binary() -> PathBuf {
    for candidate in ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "docker-registry is not installed: these tests run against the real registry. \
         Install it with `sudo apt-get install -y docker-registry` (./scripts/test.sh does this)."
    );
}

/// How the registry authenticates clients.
#[derive(Debug)]
pub enum RegistryAuth<'a> {
    /// Anyone may push and pull.
    None,
    /// Basic auth with one user (the fixture knows the hash of `s3cret` only).
    Htpasswd(&'a str, &'a str),
    /// Token auth: bearer tokens from the issuer at `realm`, signed by the key of `cert`.
    Token {
        /// The token endpoint.
        realm: String,
        /// The tokens' issuer.
        issuer: &'a str,
        /// The service name tokens are for.
        service: &'a str,
        /// The certificate whose key signs the tokens.
        cert: &'a std::path::Path,
    },
}

impl DockerRegistry {
    /// Starts an anonymous registry, or one with basic auth.
    pub fn start(basic: Option<(&str, &str)>) -> DockerRegistry {
        match basic {
            Some((user, password)) => Self::start_with(RegistryAuth::Htpasswd(user, password)),
            None => Self::start_with(RegistryAuth::None),
        }
    }

    /// Starts a registry with `auth`.
    pub fn start_with(auth: RegistryAuth<'_>) -> DockerRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let auth = match auth {
            RegistryAuth::Htpasswd(user, password) => {
                assert_eq!(
                    password, "s3cret",
                    "the fixture only knows the hash of s3cret"
                );
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{user}:{HTPASSWD_S3CRET}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: infrastream-test\n    path: {}\n",
                    file.display()
                )
            }
            RegistryAuth::Token {
                realm,
                issuer,
                service,
                cert,
            } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                cert.display()
            ),
            RegistryAuth::None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(binary())
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        DockerRegistry {
            child,
            port,
            _dir: dir,
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
