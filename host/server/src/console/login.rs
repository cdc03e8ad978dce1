//! Login and logout. The login form's credentials go to the authentication
//! plugin as the request headers an API client would send, through the
//! same cache, brute-force limits and audit trail; a session starts only on
//! its answer.

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde::Deserialize;

use super::settings::LoginForm;
use super::views::{self, LoginPage};
use super::{Console, PREFIX, Visitor, guard};
use crate::api::TraceId;
use crate::api::access::{authenticate, plugin_request};
use crate::api::error::ErrorKind;

/// Largest login form read.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Headers an API client could carry credentials in; the login form's
/// request has only the ones the form fills in.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "x-chroma-token", "cookie"];

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// `GET /console/login`: the form, or straight in when authentication is
/// off or the browser is logged in already.
pub async fn form(
    State(console): State<Console>,
    Query(next): Query<Next>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let next = safe_next(next.next.as_deref());
    let reached = console.reached(&parts);
    let gate = console.app().gate();
    if let Some(cookie) = guard::cookie(&parts.headers, reached.cookie_name())
        && console
            .sessions()
            .resume(&cookie, gate.credentials_digest())
            .is_some()
    {
        return Redirect::to(&next).into_response();
    }
    if !console.authenticates() {
        return start_session(&console, &parts, None, &next);
    }
    login_page(&console, &next, None, StatusCode::OK, None)
}

/// `POST /console/login`: check the credentials, start a session.
pub async fn submit(State(console): State<Console>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "The login form is too large").into_response();
    };
    let fields = Fields::parse(&body);
    let next = safe_next(fields.get("next"));
    if !console.authenticates() {
        return start_session(&console, &parts, None, &next);
    }
    let gate = console.app().gate();
    let form = console.login_form();
    let mut plugin_view = plugin_request(&parts, &gate);
    plugin_view
        .headers
        .retain(|(name, _)| !CREDENTIAL_HEADERS.contains(&name.as_str()));
    let filled = credentials(&form, &fields);
    if filled.is_empty() {
        let message = match form {
            LoginForm::Password => "Enter your user name and password",
            LoginForm::Token { .. } => "Enter your token",
        };
        return login_page(
            &console,
            &next,
            Some(message),
            StatusCode::UNAUTHORIZED,
            None,
        );
    }
    plugin_view.headers.extend(filled);
    let trace_id = parts
        .extensions
        .remove::<TraceId>()
        .map_or_else(String::new, |t| t.0);
    match authenticate(console.app(), gate, plugin_view, trace_id).await {
        Ok(caller) => start_session(&console, &parts, caller.shared_identity(), &next),
        Err(error) => {
            let (message, status) = match error.kind {
                ErrorKind::RateLimited => (
                    "Too many failed attempts: wait a while before trying again",
                    StatusCode::TOO_MANY_REQUESTS,
                ),
                ErrorKind::AuthUnavailable => (
                    "Logging in is unavailable: the authentication provider failed",
                    StatusCode::SERVICE_UNAVAILABLE,
                ),
                _ => match form {
                    LoginForm::Password => {
                        ("Wrong user name or password", StatusCode::UNAUTHORIZED)
                    }
                    LoginForm::Token { .. } => {
                        ("That token is not accepted", StatusCode::UNAUTHORIZED)
                    }
                },
            };
            login_page(&console, &next, Some(message), status, error.retry_after)
        }
    }
}

/// `POST /console/logout`: end the session on the server and clear the
/// cookie.
pub async fn logout(
    State(console): State<Console>,
    visitor: Visitor,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large").into_response();
    };
    if let Err(refusal) = visitor.check_csrf(&parts.headers, &Fields::parse(&body)) {
        return refusal.into_response();
    }
    let reached = console.reached(&parts);
    if let Some(cookie) = guard::cookie(&parts.headers, reached.cookie_name()) {
        console.sessions().end(&cookie);
    }
    let mut response = Redirect::to(&format!("{PREFIX}/login")).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        guard::cleared_cookie(reached.cookie_name(), reached.secure),
    );
    response
}

/// The headers that carry the form's credentials to the plugin; none when
/// the form is empty.
fn credentials(form: &LoginForm, fields: &Fields) -> Vec<(String, String)> {
    match form {
        LoginForm::Password => {
            let user = fields.get("user").unwrap_or_default();
            let password = fields.get("password").unwrap_or_default();
            if user.is_empty() || password.is_empty() {
                return vec![];
            }
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            vec![("authorization".into(), format!("Basic {basic}"))]
        }
        LoginForm::Token { header } => {
            let token = fields.get("token").unwrap_or_default().trim();
            if token.is_empty() {
                return vec![];
            }
            match header {
                Some(name) => vec![(name.clone(), token.to_string())],
                None => vec![
                    ("authorization".into(), format!("Bearer {token}")),
                    ("x-chroma-token".into(), token.to_string()),
                ],
            }
        }
    }
}

fn start_session(
    console: &Console,
    parts: &Parts,
    identity: Option<std::sync::Arc<prism_auth::Identity>>,
    next: &str,
) -> Response {
    let reached = console.reached(parts);
    // Logging in again ends the session the browser had.
    if let Some(old) = guard::cookie(&parts.headers, reached.cookie_name()) {
        console.sessions().end(&old);
    }
    let credentials = console.app().gate().credentials_digest();
    let new = console.sessions().start(identity, credentials);
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        guard::session_cookie(reached.cookie_name(), &new.cookie, reached.secure),
    );
    response
}

fn login_page(
    console: &Console,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
    retry_after: Option<u64>,
) -> Response {
    let page = LoginPage {
        password: matches!(console.login_form(), LoginForm::Password),
        provider: console
            .app()
            .gate()
            .authn_name()
            .unwrap_or_default()
            .to_string(),
        next: next.to_string(),
        error: error.map(String::from),
    };
    let mut response = views::render(status, &page);
    if let Some(secs) = retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Where to go after login: a console page, never another site.
fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| {
        (n == &PREFIX
            || n.starts_with(&format!("{PREFIX}/"))
            || n.starts_with(&format!("{PREFIX}?")))
            && !n.contains("//")
            && !n.contains('\\')
            && !n.starts_with(&format!("{PREFIX}/login"))
            && !n.starts_with(&format!("{PREFIX}/logout"))
    })
    .unwrap_or(PREFIX)
    .to_string()
}

/// The fields of a URL-encoded form.
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Parse `body`.
    pub fn parse(body: &[u8]) -> Self {
        Fields(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_login_only_console_pages() {
        assert_eq!(safe_next(None), "/console");
        assert_eq!(
            safe_next(Some("/console/tenants/t/databases/d")),
            "/console/tenants/t/databases/d"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/console//evil.example",
            "/consoleevil",
            "/console/login",
            "/console/\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console", "{bad}");
        }
    }

    #[test]
    fn the_form_becomes_the_headers_an_api_client_would_send() {
        let fields = Fields::parse(b"user=alice&password=p%40ss");
        assert_eq!(
            credentials(&LoginForm::Password, &fields),
            [(
                "authorization".to_string(),
                "Basic YWxpY2U6cEBzcw==".to_string()
            )]
        );
        let token = Fields::parse(b"token=+abc+");
        let both = credentials(&LoginForm::Token { header: None }, &token);
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].1, "Bearer abc");
        let own = LoginForm::Token {
            header: Some("x-team-key".into()),
        };
        assert_eq!(
            credentials(&own, &token),
            [("x-team-key".into(), "abc".into())]
        );
        assert!(credentials(&LoginForm::Password, &Fields::parse(b"user=alice")).is_empty());
    }
}
