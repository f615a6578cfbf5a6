//! A small client of the service's HTTP API, for the operator commands, `notify` and `demo`.

use std::time::Duration;

use clap::Args;
use serde_json::Value;

/// How to reach the service and who we are.
#[derive(Clone, Debug, Args)]
pub(crate) struct Conn {
    /// The service.
    #[arg(
        long,
        env = "INFRASTREAM_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub(crate) server: String,
    /// Who acts (sent in the actor header; the service trusts it only in local mode).
    #[arg(long = "as", env = "INFRASTREAM_ACTOR")]
    pub(crate) actor: Option<String>,
    /// An OIDC bearer token naming who acts.
    #[arg(long, env = "INFRASTREAM_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Sign request bodies with the shared secret in this file (CI and engine requests).
    #[arg(long, env = "INFRASTREAM_SECRET_FILE")]
    pub(crate) secret_file: Option<std::path::PathBuf>,
}

/// An answer: the HTTP status and the JSON body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    /// The `after` cursor of the next page, when the `Link` header names one.
    pub(crate) next_after: Option<String>,
}

/// The `after` parameter of the page a `Link` header names `rel="next"`, e.g. from
/// `</v1/deployments?limit=20&after=1700000000000.3.d-1>; rel="next"`.
fn next_after(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let (_, query) = target.split_once('?')?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find_map(|(k, v)| (k == "after").then_some(v))
    })
}

impl Answer {
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error message of a refused request.
    pub(crate) fn message(&self) -> String {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| self.body.to_string(), str::to_string)
    }
}

#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    conn: Conn,
    secret: Option<Vec<u8>>,
}

impl Client {
    pub(crate) fn new(conn: &Conn) -> Result<Client, String> {
        let secret = match &conn.secret_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("{}: {e}", p.display()))?
                    .trim()
                    .as_bytes()
                    .to_vec(),
            ),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Client {
            http,
            conn: conn.clone(),
            secret,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.conn.server.trim_end_matches('/'))
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut req = req;
        if let Some(actor) = &self.conn.actor {
            req = req.header("x-infrastream-actor", actor);
        }
        if let Some(token) = &self.conn.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            let text = body.to_string();
            if let Some(secret) = &self.secret {
                req = req.header(
                    cd_service::auth::SIGNATURE_HEADER,
                    cd_service::auth::sign(secret, text.as_bytes()),
                );
            }
            req = req.header("content-type", "application/json").body(text);
        }
        let response = req
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.conn.server))?;
        let status = response.status().as_u16();
        let next_after = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_after);
        let text = response.text().await.map_err(|e| e.to_string())?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            body,
            next_after,
        })
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Answer, String> {
        self.send(self.http.get(self.url(path)), None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Answer, String> {
        self.send(self.http.post(self.url(path)), Some(body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> Result<Answer, String> {
        self.send(self.http.put(self.url(path)), Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<Answer, String> {
        self.send(self.http.delete(self.url(path)), None).await
    }
}

#[cfg(test)]
mod tests {
    use super::next_after;

    #[test]
    fn the_next_pages_cursor_is_read_from_the_link_header() {
        assert_eq!(
            next_after("</v1/deployments?limit=2&after=1700000000000.3.d-1%2Bx>; rel=\"next\"")
                .as_deref(),
            Some("1700000000000.3.d-1+x")
        );
        assert_eq!(
            next_after("</a?after=1>; rel=\"prev\", </b?after=2>; rel=\"next\"").as_deref(),
            Some("2")
        );
        assert_eq!(next_after("</v1/deployments?after=1>; rel=\"prev\""), None);
        assert_eq!(next_after("</v1/deployments?limit=2>; rel=\"next\""), None);
        assert_eq!(next_after("not a link"), None);
    }
}
