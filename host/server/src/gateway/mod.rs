//! Gateway mode (`prism run --upstream URL`): Prism's authentication,
//! authorization, row filters, audit, limits and TLS in front of a Chroma
//! (one node, or a distributed deployment's frontend) that has none. The
//! same `/api/v2` is served; authorized requests are forwarded, their
//! bodies streamed through untouched except where Prism must change them
//! (the singleton tenant overwrite, row filters, scope checks of collection
//! ids). Prism's own engine is not opened.

mod catalog;
pub(crate) mod forward;
mod routes;
mod rows;
mod typed;
pub mod upstream;

use std::time::Duration;

use axum::http::HeaderName;

pub use routes::router;
pub use upstream::{Upstream, UpstreamError, UpstreamSettings};

use crate::api::access::At;
use crate::api::error::{ApiError, ErrorKind};
use catalog::Catalog;

/// How long a collection's name is trusted after it was looked up: a
/// rename made through another gateway (or directly upstream) reaches
/// grants by collection-name pattern within this time.
pub const NAME_TTL: Duration = Duration::from_secs(5);

/// The upstream and what the gateway remembers of it.
pub struct Gateway {
    upstream: Upstream,
    catalog: Catalog,
    /// Headers that carry credentials besides the standard ones (the
    /// configured token header): never forwarded.
    credential_headers: Vec<HeaderName>,
    max_payload_bytes: usize,
}

impl Gateway {
    /// A gateway to `upstream`. `credential_headers` are headers that carry
    /// clients' credentials besides the standard ones.
    pub fn new(
        upstream: Upstream,
        credential_headers: Vec<HeaderName>,
        max_payload_bytes: usize,
    ) -> Self {
        Gateway {
            upstream,
            catalog: Catalog::new(NAME_TTL),
            credential_headers,
            max_payload_bytes,
        }
    }

    /// The largest request body forwarded.
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_bytes
    }

    /// The upstream.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The name of the collection `at` addresses by id, which must be in
    /// `at`'s tenant and database (not found otherwise, as the engine
    /// answers).
    pub async fn collection_name(&self, at: &At) -> Result<String, ApiError> {
        self.catalog
            .name(&self.upstream, &at.tenant, &at.database, at.collection_id())
            .await
    }

    /// Forget what is known of collections a write may have renamed or
    /// deleted.
    fn forget(&self, at: &At, name: Option<&str>) {
        self.catalog
            .forget(&at.tenant, &at.database, at.collection_id_if_any(), name);
    }
}

/// An upstream failure as a client sees it: in Chroma's shape, with the
/// details in the server's log only (they name internal hosts).
pub fn unavailable(error: &UpstreamError) -> ApiError {
    match error {
        UpstreamError::Timeout { timeout, .. } => ApiError::new(
            ErrorKind::UpstreamTimeout,
            format!(
                "Gateway timeout: the upstream Chroma server did not answer within {} s",
                timeout.as_secs()
            ),
        )
        .with_detail(error.to_string()),
        _ => ApiError::new(
            ErrorKind::UpstreamUnavailable,
            "Service unavailable: the upstream Chroma server cannot be reached (details in the server log)",
        )
        .with_detail(error.to_string()),
    }
}
