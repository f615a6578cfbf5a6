//! A token issuer for docker-registry's token authentication: it checks HTTP basic credentials
//! and answers with a JWT signed (RS256, via the `openssl` command) by a self-signed key whose
//! certificate the registry trusts. This is the real Docker token protocol, end to end.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

pub(crate) struct TokenServer {
    pub(crate) port: u16,
    pub(crate) cert: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sign(dir: &Path, input: &str) -> String {
    let data = dir.join("signing-input");
    std::fs::write(&data, input).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign", "key.pem"])
        .arg(&data)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    URL_SAFE_NO_PAD.encode(out.stdout)
}

fn der_cert(dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-in", "cert.pem", "-outform", "DER"])
        .current_dir(dir)
        .output()
        .unwrap();
    STANDARD.encode(out.stdout)
}

impl TokenServer {
    /// Starts an issuer that accepts `user`/`password` and names itself `issuer` for `service`.
    pub(crate) fn start(
        dir: &Path,
        user: &str,
        password: &str,
        issuer: &str,
        service: &str,
    ) -> TokenServer {
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-subj",
                "/CN=infrastream-test-issuer",
            ],
            dir,
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        let cert = dir.join("cert.pem");
        let (dir, issuer, service) = (dir.to_path_buf(), issuer.to_string(), service.to_string());
        let x5c = der_cert(&dir);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap_or_default();
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                        && value.trim() == expected
                    {
                        authorized = true;
                    }
                }
                let mut out = stream;
                if !authorized {
                    let _ = out.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                // scope=repository:<name>:<actions>
                let query = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .split_once('?')
                    .map(|x| x.1)
                    .unwrap_or_default();
                let scope = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("scope="))
                    .map(|s| {
                        s.replace("%3A", ":")
                            .replace("%2C", ",")
                            .replace("%2F", "/")
                    })
                    .unwrap_or_default();
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
                let claims = serde_json::json!({
                    "iss": issuer, "sub": "ci", "aud": service, "exp": now + 600, "nbf": now - 10, "iat": now,
                    "jti": format!("{now}-{name}"),
                    "access": [{"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}],
                });
                let input = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(claims.to_string())
                );
                let jwt = format!("{input}.{}", sign(&dir, &input));
                let body = serde_json::json!({"token": jwt}).to_string();
                let _ = write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenServer { port, cert }
    }
}
