//! The web console at `/console`: a person logs in as themselves (through
//! the same authentication plugin, cache, brute-force limits and audit trail
//! as the API), then browses what they may see. Every page is a client of
//! the engine through [`Caller`]/[`Authorized`](crate::api::access::Authorized)
//! with the session's identity; the console has no other way to the data.
//!
//! Pages are server-rendered from templates checked at compile time
//! (askama); the stylesheet and the one small script are embedded in the
//! binary, so the console works offline and under a strict
//! Content-Security-Policy (no inline script, nothing from elsewhere).

mod assets;
mod guard;
mod login;
mod pages;
mod projection;
pub mod session;
pub mod settings;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use self::session::{Session, SessionStore};
pub use self::settings::{ConsoleSettings, LoginForm};
use crate::api::TraceId;
use crate::api::access::{AppState, Caller, plugin_request};
use crate::listen::Peer;

/// Where the console lives.
pub const PREFIX: &str = "/console";

/// What the console shows about the auth configuration on its admin page
/// (names and non-secret settings only).
#[derive(Debug, Clone, Default)]
pub struct ProviderSummary {
    /// `authentication` or `authorization`.
    pub kind: &'static str,
    /// The name or alias asked for.
    pub name: String,
    /// Settings as `key`, the variable that set it, and what may be shown
    /// of the value (file paths and URLs; a plain value shows as set).
    pub settings: Vec<(String, String, String)>,
}

/// The providers the environment chose and their settings, as the admin
/// page shows them: a file path, or a URL without credentials or query, is
/// shown; any other value only as set (it may be a token).
pub fn provider_summaries(auth: &prism_auth::AuthSettings) -> Vec<ProviderSummary> {
    let summary = |kind, choice: &prism_auth::ProviderChoice| ProviderSummary {
        kind,
        name: choice.name.clone(),
        settings: choice
            .settings
            .iter()
            .map(|s| (s.key.clone(), s.var.clone(), shown_value(&s.value)))
            .collect(),
    };
    auth.authn
        .iter()
        .map(|c| summary("authentication", c))
        .chain(auth.authz.iter().map(|c| summary("authorization", c)))
        .collect()
}

fn shown_value(value: &str) -> String {
    if let Some(rest) = value.strip_prefix("https://") {
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        return format!("https://{host}/{path}");
    }
    if std::path::Path::new(value).is_file() {
        return value.to_string();
    }
    "(set; not shown)".to_string()
}

/// The console's state.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    app: AppState,
    sessions: SessionStore,
    settings: ConsoleSettings,
    /// Whether Prism serves HTTPS (cookies are then `Secure`).
    https: bool,
    providers: Vec<ProviderSummary>,
}

impl Console {
    /// The console over `app`.
    pub fn new(
        app: AppState,
        settings: ConsoleSettings,
        https: bool,
        providers: Vec<ProviderSummary>,
    ) -> Self {
        Console {
            inner: Arc::new(Inner {
                app,
                sessions: SessionStore::new(settings.session_limits()),
                settings,
                https,
                providers,
            }),
        }
    }

    fn app(&self) -> &AppState {
        &self.inner.app
    }

    fn sessions(&self) -> &SessionStore {
        &self.inner.sessions
    }

    /// How the browser reached this server: the host it asked for and
    /// whether over HTTPS. Behind a proxy listed in `PRISM_TRUSTED_PROXIES`,
    /// its `X-Forwarded-Host` and `X-Forwarded-Proto` say so.
    fn reached(&self, parts: &Parts) -> Reached {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let mut reached = Reached {
            secure: self.inner.https,
            hosts: header("host").map(String::from).into_iter().collect(),
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .map(|ConnectInfo(peer)| peer.address.ip().to_string());
        if peer.is_some_and(|peer| self.app().gate().trusts_proxy(&peer)) {
            if let Some(hosts) = header("x-forwarded-host") {
                reached
                    .hosts
                    .extend(hosts.split(',').map(|h| h.trim().to_string()));
            }
            if header("x-forwarded-proto")
                .and_then(|p| p.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
            {
                reached.secure = true;
            }
        }
        reached
    }

    /// Whether authentication is on (otherwise the console needs no login).
    fn authenticates(&self) -> bool {
        self.app().gate().authenticates()
    }

    /// The login form the authentication provider takes.
    fn login_form(&self) -> LoginForm {
        self.inner
            .settings
            .login_form(self.app().gate().authn_name().unwrap_or_default())
    }
}

/// How a browser reached the server (see [`Console::reached`]).
pub struct Reached {
    /// Over HTTPS: the session cookie is then `Secure`.
    secure: bool,
    /// The hosts an `Origin` may name.
    hosts: Vec<String>,
}

impl Reached {
    /// The session cookie's name: with the `__Host-` prefix over HTTPS,
    /// which browsers only accept from a secure origin, for the whole host.
    fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-prism-session"
        } else {
            "prism-session"
        }
    }
}

/// The console's routes, under [`PREFIX`], with their security headers.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/admin", get(pages::admin))
        .route("/assets/{file}", get(assets::serve))
        .route(
            "/tenants/{tenant}/databases/{database}",
            get(pages::database),
        )
        .route(
            "/tenants/{tenant}/databases/{database}/collections",
            post(pages::create_collection),
        )
        .route(
            "/tenants/{tenant}/databases/{database}/collections/{id}",
            get(pages::collection),
        )
        .route(
            "/tenants/{tenant}/databases/{database}/collections/{id}/delete-records",
            post(pages::delete_records),
        )
        .route(
            "/tenants/{tenant}/databases/{database}/collections/{id}/delete-collection",
            post(pages::delete_collection),
        )
        .route(
            "/tenants/{tenant}/databases/{database}/collections/{id}/map",
            get(pages::map),
        )
        .route(
            "/tenants/{tenant}/databases/{database}/collections/{id}/records",
            get(pages::record),
        )
        .fallback(pages::not_found)
        .layer(middleware::from_fn(guard::headers))
        .layer(middleware::from_fn_with_state(
            console.clone(),
            guard::same_origin,
        ))
        .with_state(console)
}

/// A console request with a live session: who is asking, as a [`Caller`],
/// and the session (for its CSRF token).
pub struct Visitor {
    caller: Caller,
    session: Session,
}

impl Visitor {
    fn caller(&self) -> Caller {
        self.caller.clone()
    }
}

/// No live session: to the login page, and back here afterwards.
pub struct ToLogin(String);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        let back = urlencoding(&self.0);
        Redirect::to(&format!("{PREFIX}/login?next={back}")).into_response()
    }
}

impl FromRequestParts<Console> for Visitor {
    type Rejection = ToLogin;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, ToLogin> {
        // Back here after login, if here is a page.
        let here = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .filter(|_| parts.method == axum::http::Method::GET)
            .map_or_else(|| PREFIX.to_string(), |u| u.0.to_string());
        let gate = console.app().gate();
        let reached = console.reached(parts);
        let cookie =
            guard::cookie(&parts.headers, reached.cookie_name()).ok_or(ToLogin(here.clone()))?;
        let session = console
            .sessions()
            .resume(&cookie, gate.credentials_digest())
            .ok_or(ToLogin(here))?;
        let trace_id = parts
            .extensions
            .get::<TraceId>()
            .map_or_else(String::new, |t| t.0.clone());
        let client = plugin_request(parts, &gate).client_address;
        Ok(Visitor {
            caller: Caller::resumed(console.app(), session.identity.clone(), trace_id, client),
            session,
        })
    }
}

/// `text` as one query-string value.
fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::shown_value;

    #[test]
    fn secrets_are_not_shown() {
        assert_eq!(shown_value("s3cr3t-token"), "(set; not shown)");
        assert_eq!(
            shown_value("https://user:pw@idp.example/jwks.json?key=1"),
            "https://idp.example/jwks.json"
        );
        assert_eq!(shown_value("/etc/hostname"), "/etc/hostname");
    }
}
