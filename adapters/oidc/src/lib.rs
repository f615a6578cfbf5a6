//! Verifying OpenID Connect ID tokens of one pinned issuer, for the CD Manager (people and
//! machines calling its API) and the Token Broker (GitHub Actions jobs).
//!
//! The order of the checks is the security argument: a token is parsed and its size, header
//! and issuer checked before anything is fetched, so an unverified token can never make this
//! crate call a URL of its choosing (the `jku`, `x5u`, `jwk` and `x5c` headers are never read).
//! Keys come only from the pinned issuer's discovery document, whose `jwks_uri` must be on the
//! issuer's own origin (or one configured for it). Only asymmetric algorithms are accepted,
//! the ones the caller lists; the key must be of the algorithm's family.
//!
//! Without the default `fetch` feature the crate is pure: [`Unverified::parse`] and the claim
//! checks of [`Standard`], which is what the fuzz targets exercise.

mod claims;
mod compact;
mod endpoint;
mod error;
#[cfg(feature = "fetch")]
mod keys;
#[cfg(feature = "fetch")]
mod verifier;

pub use claims::{ActionsClaims, MAX_SKEW_SECS, Standard};
pub use compact::{MAX_TOKEN_BYTES, Unverified};
pub use endpoint::{EndpointError, checked_endpoint, is_loopback};
pub use error::OidcError;
#[cfg(feature = "fetch")]
pub use jsonwebtoken::Algorithm;
#[cfg(feature = "fetch")]
pub use keys::Schedule;
#[cfg(feature = "fetch")]
pub use verifier::{IssuerConfig, Verified, Verifier};
