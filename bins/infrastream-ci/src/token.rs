//! `token`: a short-lived GitHub token from the Token Broker, for a CI job's cross-repository
//! access. The job's GitHub Actions OIDC token (audience: the broker's URL) is exchanged for an
//! installation token scoped to exactly the repositories and permissions asked for. The token
//! is masked in the log before anything else is printed and goes only to `$GITHUB_OUTPUT`
//! (`token`), never to stdout.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::actions::{append_output, summary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Token Broker's URL (https; http only on loopback, for tests). It is also the
    /// audience of the OIDC token.
    #[arg(long)]
    broker: String,
    /// Repository names of the broker's organization, comma-separated.
    #[arg(long)]
    repositories: String,
    /// Permissions, comma-separated `scope:level`, e.g. `contents:read`.
    #[arg(long)]
    permissions: String,
}

/// The request a job sends: repositories and permissions, both non-empty.
fn request(args: &Args) -> Result<Value, String> {
    let repositories: Vec<&str> = args
        .repositories
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    if repositories.is_empty() {
        return Err("--repositories names no repository".into());
    }
    let mut permissions = BTreeMap::new();
    for item in args
        .permissions
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (scope, level) = item
            .split_once(':')
            .ok_or_else(|| format!("--permissions: '{item}' is not scope:level"))?;
        let scope_ok = !scope.is_empty()
            && scope
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c == b'_' || c == b'-');
        if !scope_ok || !matches!(level, "read" | "write" | "admin") {
            return Err(format!(
                "--permissions: '{item}' is not scope:read, scope:write or scope:admin"
            ));
        }
        permissions.insert(scope.replace('-', "_"), level.to_string());
    }
    if permissions.is_empty() {
        return Err("--permissions names no permission".into());
    }
    Ok(json!({ "repositories": repositories, "permissions": permissions }))
}

/// `https://...`, or `http://` to a loopback host.
fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let host = url
        .strip_prefix("http://")
        .map(|rest| rest.split(['/', '?']).next().unwrap_or_default())
        .map(|authority| {
            authority
                .rsplit_once(':')
                .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                .map_or(authority, |(h, _)| h)
        });
    match host {
        Some("127.0.0.1" | "localhost" | "[::1]") => Ok(()),
        _ => Err(format!(
            "--broker {url}: only https:// (http:// on loopback, for tests)"
        )),
    }
}

fn read_body(response: &mut ureq::http::Response<ureq::Body>) -> Result<Value, String> {
    let text = response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))
}

/// The job's OIDC token for `audience`, from the Actions runtime.
fn oidc_token(agent: &ureq::Agent, audience: &str) -> Result<String, String> {
    let (Ok(url), Ok(bearer)) = (
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL"),
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) else {
        return Err(
            "no OIDC token: the job needs `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL is not set)"
                .into(),
        );
    };
    let mut response = agent
        .get(&url)
        .query("audience", audience)
        .header("authorization", format!("bearer {bearer}"))
        .header("accept", "application/json")
        .call()
        .map_err(|e| format!("OIDC token request: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("OIDC token request answered {}", response.status()));
    }
    read_body(&mut response)?
        .get("value")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "OIDC token response has no value".into())
}

pub(crate) fn run(args: &Args) -> ExitCode {
    let body = match request(args).and_then(|b| check_url(&args.broker).map(|()| b)) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let agent = crate::http::agent();
    let broker = args.broker.trim_end_matches('/');
    let result = oidc_token(&agent, &args.broker).and_then(|oidc| {
        let mut response = agent
            .post(format!("{broker}/v1/token"))
            .header("authorization", format!("Bearer {oidc}"))
            .header("content-type", "application/json")
            .send(body.to_string().as_bytes())
            .map_err(|e| format!("Token Broker: {e}"))?;
        let status = response.status();
        let answer = read_body(&mut response);
        if !status.is_success() {
            let reason = answer
                .ok()
                .and_then(|a| a.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            return Err(format!("Token Broker answered {status}: {reason}"));
        }
        answer.map_err(|e| format!("Token Broker: {e}"))
    });
    let answer = match result {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {}", e.replace(['\r', '\n'], " "));
            return ExitCode::from(1);
        }
    };
    let Some(token) = answer
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
    else {
        eprintln!("error: Token Broker's answer has no token");
        return ExitCode::from(1);
    };
    // Masked before anything else could print it.
    println!("::add-mask::{token}");
    if let Err(e) = append_output("token", token) {
        eprintln!("error: cannot write the token to GITHUB_OUTPUT: {e}");
        return ExitCode::from(1);
    }
    let expires = answer
        .get("expires_at")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let text = format!(
        "Token Broker: a token for {} ({}) until {expires}\n",
        args.repositories, args.permissions
    );
    eprint!("{text}");
    summary(&text);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http() {
        assert!(check_url("https://broker.example.com").is_ok());
        assert!(check_url("http://127.0.0.1:8090").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        assert!(check_url("http://broker.example.com").is_err());
        assert!(check_url("http://127.0.0.1.evil.example").is_err());
        assert!(check_url("ftp://x").is_err());
    }

    #[test]
    fn requests_name_repositories_and_permissions() {
        let args = Args {
            broker: "https://b".into(),
            repositories: "a, b".into(),
            permissions: "contents:read,pull-requests:write".into(),
        };
        assert_eq!(
            request(&args).unwrap(),
            json!({"repositories": ["a", "b"], "permissions": {"contents": "read", "pull_requests": "write"}})
        );
        for (repos, perms) in [
            ("", "contents:read"),
            ("a", ""),
            ("a", "contents"),
            ("a", "contents:all"),
        ] {
            let args = Args {
                broker: "https://b".into(),
                repositories: repos.into(),
                permissions: perms.into(),
            };
            assert!(request(&args).is_err(), "{repos} {perms}");
        }
    }
}
