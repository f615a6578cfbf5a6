//! Which URLs may be trusted as an issuer or an API: `https`, or `http` on loopback (tests).

use url::{Host, Url};

/// Why a URL may not be used as an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{url}' {problem}")]
pub struct EndpointError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Whether `url` names this machine (`localhost`, 127.0.0.0/8, `::1`).
#[must_use]
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `text` parsed as an endpoint: `https://`, or `http://` to loopback; no credentials, query or
/// fragment.
///
/// # Errors
/// [`EndpointError`] saying which rule fails.
pub fn checked_endpoint(text: &str) -> Result<Url, EndpointError> {
    let fail = |problem| EndpointError {
        url: text.to_string(),
        problem,
    };
    let url = Url::parse(text).map_err(|_| fail("is not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(fail("must be https (http only on loopback, for tests)")),
        _ => return Err(fail("must be an https URL")),
    }
    if url.host().is_none() {
        return Err(fail("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(fail("must not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(fail("must not have a query or fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_on_loopback_only() {
        for ok in [
            "https://token.actions.githubusercontent.com",
            "http://127.0.0.1:8080",
            "http://localhost:1/x",
            "http://[::1]:9",
        ] {
            assert!(checked_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://token.actions.githubusercontent.com",
            "http://127.0.0.1.evil.example",
            "ftp://127.0.0.1",
            "https://user:pw@issuer.example",
            "https://issuer.example/?x=1",
            "https://issuer.example/#f",
            "not a url",
            "",
        ] {
            assert!(checked_endpoint(bad).is_err(), "{bad}");
        }
    }
}
