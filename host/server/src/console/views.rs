//! The console's pages: one template (in `templates/console/`, checked at
//! compile time) per struct, all escaping what they show.

use askama::Template;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Render `page` as an HTML response with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "a console page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page failed to render",
            )
                .into_response()
        }
    }
}

/// What every page's header shows.
pub struct Nav {
    /// Who is logged in; `None` when authentication is off.
    pub user: Option<String>,
    /// For the logout form.
    pub csrf: String,
    /// Whether to link the admin page.
    pub admin: bool,
    /// Whether there is a session to log out of.
    pub session: bool,
}

/// `GET /console/login`.
#[derive(Template)]
#[template(path = "console/login.html")]
pub struct LoginPage {
    /// User name and password (else a token).
    pub password: bool,
    /// The authentication provider's name.
    pub provider: String,
    /// Where to go afterwards.
    pub next: String,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

/// A tenant and the databases in it the visitor may list.
pub struct TenantView {
    /// Name.
    pub name: String,
    /// Its databases; `None` when the visitor may not list them.
    pub databases: Option<Vec<String>>,
}

/// `GET /console`: who am I, and where can I go.
#[derive(Template)]
#[template(path = "console/home.html")]
pub struct HomePage {
    pub nav: Nav,
    /// Authentication is on.
    pub auth: bool,
    /// The identity's tenant scope (`*` or none means any).
    pub tenant: Option<String>,
    /// The identity's database scope.
    pub databases: Option<Vec<String>>,
    /// `role` attributes.
    pub roles: Vec<String>,
    /// Other attributes, as the authentication provider set them.
    pub attributes: Vec<(String, String)>,
    /// Tenants the visitor may see.
    pub tenants: Vec<TenantView>,
}

impl HomePage {
    /// A database's page.
    pub fn database_href(&self, tenant: &str, database: &str) -> String {
        format!(
            "/console/tenants/{}/databases/{}",
            segment(tenant),
            segment(database)
        )
    }
}

/// One collection in a database's list.
pub struct CollectionRow {
    pub id: String,
    pub name: String,
    /// Records, when the visitor may count them.
    pub count: Option<u64>,
    pub dimension: Option<u32>,
    pub space: String,
    pub max_neighbors: String,
    pub ef_construction: String,
    pub ef_search: String,
    /// `indexed / total`, percent.
    pub indexing: Option<String>,
    /// Whether to show the delete button.
    pub can_delete: bool,
}

/// `GET /console/tenants/{t}/databases/{d}`.
#[derive(Template)]
#[template(path = "console/database.html")]
pub struct DatabasePage {
    pub nav: Nav,
    pub tenant: String,
    pub database: String,
    pub collections: Vec<CollectionRow>,
    pub can_create: bool,
}

impl DatabasePage {
    /// This page.
    pub fn database_href(&self) -> String {
        format!(
            "/console/tenants/{}/databases/{}",
            segment(&self.tenant),
            segment(&self.database)
        )
    }

    /// A collection's page.
    pub fn collection_href(&self, id: &str) -> String {
        format!("{}/collections/{id}", self.database_href())
    }
}

/// One record in a collection's table.
pub struct RecordRow {
    pub id: String,
    pub document: String,
    pub metadata: String,
}

/// Where a collection's pages live, and what it is.
pub struct CollectionHeader {
    pub tenant: String,
    pub database: String,
    pub id: String,
    pub name: String,
}

impl CollectionHeader {
    /// The database page.
    pub fn database_href(&self) -> String {
        format!(
            "/console/tenants/{}/databases/{}",
            segment(&self.tenant),
            segment(&self.database)
        )
    }

    /// The collection page, or one of its sub-pages.
    pub fn href(&self, rest: &str) -> String {
        format!("{}/collections/{}{rest}", self.database_href(), self.id)
    }

    /// A record's page.
    pub fn record_href(&self, id: &str) -> String {
        self.href(&format!("/records?id={}", super::urlencoding(id)))
    }
}

/// `GET …/collections/{id}`: a page of records, filtered.
#[derive(Template)]
#[template(path = "console/collection.html")]
pub struct CollectionPage {
    pub nav: Nav,
    pub collection: CollectionHeader,
    pub total: Option<u64>,
    pub where_text: String,
    pub where_document_text: String,
    /// Chroma's message for a filter it refused.
    pub error: Option<String>,
    pub records: Vec<RecordRow>,
    pub first: u32,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub can_delete: bool,
}

/// A neighbour of a record.
pub struct Neighbour {
    pub id: String,
    pub distance: String,
    pub document: String,
}

/// `GET …/records?id=`: one record and its nearest neighbours.
#[derive(Template)]
#[template(path = "console/record.html")]
pub struct RecordPage {
    pub nav: Nav,
    pub collection: CollectionHeader,
    pub id: String,
    pub document: Option<String>,
    pub uri: Option<String>,
    pub metadata: String,
    /// Dimension, norm, min, max, first values.
    pub embedding: Option<EmbeddingSummary>,
    pub neighbours: Vec<Neighbour>,
}

/// What a person can read of a vector.
pub struct EmbeddingSummary {
    pub dimension: usize,
    pub norm: String,
    pub min: String,
    pub max: String,
    pub head: String,
}

/// One point of a projection.
pub struct MapPoint {
    pub x: String,
    pub y: String,
    pub color: &'static str,
    pub title: String,
    pub href: String,
}

/// `GET …/map`: a 2-D picture of a collection.
#[derive(Template)]
#[template(path = "console/map.html")]
pub struct MapPage {
    pub nav: Nav,
    pub collection: CollectionHeader,
    /// Metadata keys found in the sample.
    pub keys: Vec<String>,
    pub color_key: String,
    pub points: Vec<MapPoint>,
    pub legend: Vec<(String, &'static str)>,
    pub sampled: usize,
    pub total: u64,
    /// Share of the variance the two axes show, percent.
    pub explained: String,
}

/// One audit event on the admin page.
pub struct EventRow {
    pub at: String,
    pub user: String,
    pub client: String,
    pub stage: &'static str,
    pub action: String,
    pub resource: String,
    pub allowed: bool,
    pub reason: String,
    pub provider: String,
}

/// `GET /console/admin`.
#[derive(Template)]
#[template(path = "console/admin.html")]
pub struct AdminPage {
    pub nav: Nav,
    /// `name version` of each provider in force.
    pub in_force: Vec<String>,
    pub providers: Vec<super::ProviderSummary>,
    pub sessions: usize,
    pub idle_minutes: u64,
    pub lifetime_hours: String,
    pub events: Vec<EventRow>,
}

/// A refusal or a failure, for a person.
#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    pub nav: Nav,
    pub title: String,
    pub message: String,
}

/// `text` as one path segment.
pub fn segment(text: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.');
    percent_encoding::utf8_percent_encode(text, KEEP).to_string()
}
