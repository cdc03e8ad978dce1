//! What keeps the console's pages safe in a browser: security headers on
//! every response, cross-site requests refused before any handler runs,
//! and the session cookie's flags.

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Console;

/// No script but the console's own file, no inline script or style, no
/// framing, forms post only here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Put the console's security headers on every response.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        headers,
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    // Pages show data: nothing is kept for Back to show after logout.
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// Refuse a state-changing request another site made the browser send:
/// `Sec-Fetch-Site` other than same-origin, or an `Origin` that is not this
/// server's. (Browsers send one or both with every POST; a request with
/// neither is not a browser's, and still needs the session's CSRF token.)
pub async fn same_origin(State(console): State<Console>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let reached = console.reached(&parts);
    let request = Request::from_parts(parts, body);
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && let Err(reason) = check_same_origin(request.headers(), &reached.hosts)
    {
        tracing::info!(%reason, path = request.uri().path(), "cross-site console request refused");
        return Refused("Cross-site requests to the console are refused").into_response();
    }
    next.run(request).await
}

fn check_same_origin(headers: &HeaderMap, hosts: &[String]) -> Result<(), String> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site")
        && site != "same-origin"
    {
        return Err(format!("Sec-Fetch-Site: {site}"));
    }
    if let Some(origin) = text("origin") {
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        if !authority.is_some_and(|a| hosts.iter().any(|h| h.eq_ignore_ascii_case(a))) {
            return Err(format!("Origin {origin} is not {}", hosts.join(" or ")));
        }
    }
    Ok(())
}

/// A plain-text 403 (the console's refusals are for people, not clients).
#[derive(Debug)]
pub struct Refused(pub &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, self.0).into_response()
    }
}

/// The value of cookie `name`, if the request has it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// `Set-Cookie` for a new session: not readable by script, never sent by
/// another site, for the whole host, `Secure` over HTTPS; no `Max-Age`, so
/// it ends with the browser too.
pub fn session_cookie(name: &str, value: &str, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path=/{secure}"
    ))
    .expect("session ids are URL-safe base64")
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(name: &str, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"
    ))
    .expect("a fixed cookie")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn same_origin_posts_pass_and_cross_site_ones_do_not() {
        let hosts = ["db:8000".to_string(), "public.example".to_string()];
        let ok = [
            headers(&[("origin", "http://db:8000")]),
            headers(&[("origin", "https://public.example")]),
            headers(&[("sec-fetch-site", "same-origin")]),
            headers(&[]),
        ];
        for h in ok {
            assert!(check_same_origin(&h, &hosts).is_ok(), "{h:?}");
        }
        let refused = [
            headers(&[("origin", "http://evil:8000")]),
            headers(&[("origin", "null")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
        ];
        for h in refused {
            assert!(check_same_origin(&h, &hosts).is_err(), "{h:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_never_for_script_or_other_sites() {
        let plain = session_cookie("prism-session", "abc", false);
        assert_eq!(
            plain,
            "prism-session=abc; HttpOnly; SameSite=Strict; Path=/"
        );
        let secure = session_cookie("__Host-prism-session", "abc", true);
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let h = headers(&[("cookie", "a=1; prism-session=xyz; b=2")]);
        assert_eq!(cookie(&h, "prism-session").as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "prism"), None);
    }
}
