//! The claims every accepted token must carry, checked against a clock passed in, and the
//! claims of a GitHub Actions job's token.

use serde_json::{Map, Value};

use crate::OidcError;

/// How far the issuer's clock and ours may disagree, in seconds.
pub const MAX_SKEW_SECS: i64 = 60;

/// The registered claims every token must carry (RFC 7519, OpenID Connect Core §2): `iss`,
/// `aud` (one string), `exp`, `iat`, `sub`; `nbf` when present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standard {
    /// `iss`.
    pub iss: String,
    /// `aud`.
    pub aud: String,
    /// `sub`.
    pub sub: String,
    /// `exp`, seconds since the epoch.
    pub exp: i64,
    /// `iat`, seconds since the epoch.
    pub iat: i64,
    /// `nbf`, seconds since the epoch.
    pub nbf: Option<i64>,
}

fn string(claims: &Map<String, Value>, claim: &'static str) -> Result<String, OidcError> {
    match claims.get(claim) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(OidcError::Claim {
            claim,
            problem: "is empty".into(),
        }),
        Some(_) => Err(OidcError::Claim {
            claim,
            problem: "is not a string".into(),
        }),
        None => Err(OidcError::Claim {
            claim,
            problem: "is missing".into(),
        }),
    }
}

fn optional_string(claims: &Map<String, Value>, claim: &'static str) -> Option<String> {
    claims
        .get(claim)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A NumericDate: whole seconds (fractions, which RFC 7519 allows, are truncated).
fn date(claims: &Map<String, Value>, claim: &'static str) -> Result<Option<i64>, OidcError> {
    let Some(value) = claims.get(claim) else {
        return Ok(None);
    };
    let seconds = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            // In range by the filter above; truncation is what RFC 7519 asks of a NumericDate.
            .map(|f| f.trunc() as i64)
    });
    seconds.map(Some).ok_or_else(|| OidcError::Claim {
        claim,
        problem: "is not a number of seconds".into(),
    })
}

fn required_date(claims: &Map<String, Value>, claim: &'static str) -> Result<i64, OidcError> {
    date(claims, claim)?.ok_or(OidcError::Claim {
        claim,
        problem: "is missing".into(),
    })
}

impl Standard {
    /// Reads and checks the registered claims: `iss` and `aud` exactly the expected values,
    /// `exp` not passed, `nbf` and `iat` not in the future, each within [`MAX_SKEW_SECS`] of
    /// `now` (seconds since the epoch).
    ///
    /// # Errors
    /// The first rule that fails, in the order above.
    pub fn check(
        claims: &Map<String, Value>,
        issuer: &str,
        audience: &str,
        now: i64,
    ) -> Result<Standard, OidcError> {
        let iss = string(claims, "iss")?;
        if iss != issuer {
            return Err(OidcError::Issuer { found: iss });
        }
        // One string, equal: an array of audiences is a token meant for several services,
        // which this one does not accept.
        let aud = match claims.get("aud") {
            Some(Value::String(a)) if a == audience => a.clone(),
            _ => return Err(OidcError::Audience),
        };
        let exp = required_date(claims, "exp")?;
        let iat = required_date(claims, "iat")?;
        let nbf = date(claims, "nbf")?;
        let sub = string(claims, "sub")?;
        if exp.saturating_add(MAX_SKEW_SECS) <= now {
            return Err(OidcError::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(MAX_SKEW_SECS)) {
            return Err(OidcError::NotYetValid);
        }
        if iat > now.saturating_add(MAX_SKEW_SECS) {
            return Err(OidcError::IssuedInFuture);
        }
        Ok(Standard {
            iss,
            aud,
            sub,
            exp,
            iat,
            nbf,
        })
    }
}

/// The claims of a GitHub Actions job's OIDC token that decide what it may have
/// (docs.github.com, "About security hardening with OpenID Connect").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionsClaims {
    /// `repository`: `owner/name`.
    pub repository: String,
    /// `repository_id`: stays with the repository through renames, differs for a re-created one.
    pub repository_id: String,
    /// `ref`: `refs/heads/main`, `refs/tags/v1.2.3`, `refs/pull/7/merge`, ...
    pub git_ref: String,
    /// `event_name`: `push`, `workflow_dispatch`, `pull_request`, ...
    pub event_name: String,
    /// `job_workflow_ref`: `owner/repo/.github/workflows/ci.yaml@refs/heads/main`.
    pub job_workflow_ref: Option<String>,
    /// `run_id`, for the audit trail.
    pub run_id: Option<String>,
    /// `run_attempt`, for the audit trail.
    pub run_attempt: Option<String>,
    /// `actor`, for the audit trail.
    pub actor: Option<String>,
    /// `sha`, for the audit trail.
    pub sha: Option<String>,
}

impl ActionsClaims {
    /// Reads the claims of a token already verified; `repository`, `repository_id`, `ref` and
    /// `event_name` are required.
    ///
    /// # Errors
    /// [`OidcError::Claim`] naming the first missing or mistyped claim.
    pub fn read(claims: &Map<String, Value>) -> Result<ActionsClaims, OidcError> {
        // GitHub writes repository_id as a string of digits; a number is the same id.
        let repository_id = match claims.get("repository_id") {
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            _ => string(claims, "repository_id")?,
        };
        Ok(ActionsClaims {
            repository: string(claims, "repository")?,
            repository_id,
            git_ref: string(claims, "ref")?,
            event_name: string(claims, "event_name")?,
            job_workflow_ref: optional_string(claims, "job_workflow_ref"),
            run_id: optional_string(claims, "run_id"),
            run_attempt: optional_string(claims, "run_attempt"),
            actor: optional_string(claims, "actor"),
            sha: optional_string(claims, "sha"),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn good() -> Value {
        json!({ "iss": "https://i", "aud": "https://b", "sub": "s", "exp": NOW + 300, "iat": NOW - 10 })
    }

    fn check(v: Value) -> Result<Standard, &'static str> {
        Standard::check(&claims(v), "https://i", "https://b", NOW).map_err(|e| e.reason())
    }

    #[test]
    fn a_good_token_passes_with_its_claims() {
        let s = check(good()).unwrap();
        assert_eq!((s.sub.as_str(), s.exp, s.nbf), ("s", NOW + 300, None));
    }

    #[test]
    fn each_rule_refuses_on_its_own() {
        let with = |k: &str, v: Value| {
            let mut c = good();
            c[k] = v;
            c
        };
        let without = |k: &str| {
            let mut c = good();
            c.as_object_mut().unwrap().remove(k);
            c
        };
        for (c, reason) in [
            (with("iss", json!("https://other")), "issuer"),
            (without("iss"), "claims"),
            (with("aud", json!("https://other")), "audience"),
            (with("aud", json!(["https://b"])), "audience"),
            (without("aud"), "audience"),
            (without("exp"), "claims"),
            (with("exp", json!("soon")), "claims"),
            (without("iat"), "claims"),
            (without("sub"), "claims"),
            (with("sub", json!("")), "claims"),
            (with("exp", json!(NOW - MAX_SKEW_SECS)), "expired"),
            (with("nbf", json!(NOW + MAX_SKEW_SECS + 1)), "not_yet_valid"),
            (
                with("iat", json!(NOW + MAX_SKEW_SECS + 1)),
                "issued_in_future",
            ),
        ] {
            assert_eq!(check(c.clone()), Err(reason), "{c}");
        }
        // Within the skew, clocks that disagree a little still agree.
        assert!(check(with("exp", json!(NOW - MAX_SKEW_SECS + 1))).is_ok());
        assert!(check(with("nbf", json!(NOW + MAX_SKEW_SECS))).is_ok());
        assert!(check(with("iat", json!(NOW + MAX_SKEW_SECS))).is_ok());
        assert!(check(with("exp", json!((NOW + 5) as f64 + 0.5))).is_ok());
    }

    #[test]
    fn actions_claims_need_repository_id_ref_and_event() {
        let c = json!({ "repository": "northwind/shop-api", "repository_id": "42", "ref": "refs/heads/main", "event_name": "push", "run_id": "7" });
        let read = ActionsClaims::read(&claims(c.clone())).unwrap();
        assert_eq!(read.repository_id, "42");
        assert_eq!(read.run_id.as_deref(), Some("7"));
        let mut numeric = c.clone();
        numeric["repository_id"] = json!(42);
        assert_eq!(
            ActionsClaims::read(&claims(numeric)).unwrap().repository_id,
            "42"
        );
        for k in ["repository", "repository_id", "ref", "event_name"] {
            let mut missing = c.clone();
            missing.as_object_mut().unwrap().remove(k);
            assert!(
                matches!(ActionsClaims::read(&claims(missing)), Err(OidcError::Claim { claim, .. }) if claim == k || (k == "ref" && claim == "ref"))
            );
        }
    }
}
