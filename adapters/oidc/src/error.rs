//! Why a token was refused.

/// Why a token was refused, or could not be checked. Each variant says which rule failed;
/// [`OidcError::reason`] is its short name for metrics and logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// Longer than [`crate::MAX_TOKEN_BYTES`].
    #[error("the token is longer than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not three base64url JSON parts, or a header or payload of the wrong shape.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// An algorithm the verifier does not accept (`none`, HMAC, or one not configured).
    #[error("algorithm '{0}' is not accepted")]
    Algorithm(String),
    /// The header names critical extensions this verifier does not implement (RFC 7515).
    #[error("the token names critical header extensions ({0}), which are not supported")]
    Critical(String),
    /// No `kid` in the header.
    #[error("the token names no key (kid)")]
    NoKeyId,
    /// `iss` is not the pinned issuer: refused before anything is fetched.
    #[error("the token's issuer '{found}' is not the configured issuer")]
    Issuer {
        /// The `iss` the token claims.
        found: String,
    },
    /// The issuer publishes no usable key with this `kid`.
    #[error("no key '{0}' at the issuer")]
    UnknownKey(String),
    /// The signature does not verify with the issuer's key.
    #[error("the signature does not verify: {0}")]
    Signature(String),
    /// `aud` is missing, not a string, or not the configured audience.
    #[error("the token's audience is not the configured one")]
    Audience,
    /// A required claim is missing or of the wrong type.
    #[error("claim '{claim}': {problem}")]
    Claim {
        /// The claim's name.
        claim: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// `exp` has passed (beyond the allowed skew).
    #[error("the token expired")]
    Expired,
    /// `nbf` is in the future (beyond the allowed skew).
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// `iat` is in the future (beyond the allowed skew).
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    /// The issuer's discovery document or keys could not be had, or are not acceptable:
    /// not the token's fault.
    #[error("{0}")]
    Unavailable(String),
}

impl OidcError {
    /// A short, stable name of the failed rule (metrics labels, log fields).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            OidcError::TooLarge { .. } => "too_large",
            OidcError::Malformed(_) => "malformed",
            OidcError::Algorithm(_) => "algorithm",
            OidcError::Critical(_) => "critical_header",
            OidcError::NoKeyId => "no_kid",
            OidcError::Issuer { .. } => "issuer",
            OidcError::UnknownKey(_) => "unknown_key",
            OidcError::Signature(_) => "signature",
            OidcError::Audience => "audience",
            OidcError::Claim { .. } => "claims",
            OidcError::Expired => "expired",
            OidcError::NotYetValid => "not_yet_valid",
            OidcError::IssuedInFuture => "issued_in_future",
            OidcError::Unavailable(_) => "issuer_unavailable",
        }
    }

    /// Whether the token itself is at fault (a 401), rather than the issuer being
    /// unreachable or misconfigured (a 503).
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        !matches!(self, OidcError::Unavailable(_))
    }
}
