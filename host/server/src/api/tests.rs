//! Handler-level tests through the whole router, without a socket (axum's
//! `oneshot`): every route the router has refuses a caller without
//! credentials, except the few Chroma leaves public.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode};
use prism_auth::{AuthGate, AuthSettings, SharedGate};
use prism_engine::{Engine, EngineOptions};
use tower::ServiceExt;

use super::{AppState, HttpOptions, router, routes};
use crate::builtin::BUILTIN_PLUGINS;

/// Routes Chroma answers without credentials, and what they answer.
const PUBLIC: &[(&str, StatusCode)] = &[
    ("/api/v2", StatusCode::OK),
    ("/api/v2/heartbeat", StatusCode::OK),
    ("/api/v2/version", StatusCode::OK),
    ("/api/v2/pre-flight-checks", StatusCode::OK),
    ("/api/v2/healthcheck", StatusCode::OK),
    ("/openapi.json", StatusCode::OK),
    ("/api/v1/{*rest}", StatusCode::GONE),
];

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// A router over a fresh engine, behind Basic auth with one user.
fn protected_app(dir: &std::path::Path) -> axum::Router {
    let users = dir.join("users.htpasswd");
    let hash = bcrypt::hash("secret", 4).unwrap();
    std::fs::write(&users, format!("admin:{hash}\n")).unwrap();
    let env: BTreeMap<String, String> = [
        (
            "CHROMA_SERVER_AUTHN_PROVIDER",
            "chromadb.auth.basic_authn.BasicAuthenticationServerProvider",
        ),
        (
            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE",
            users.to_str().unwrap(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let auth = AuthSettings::from_env(&env).unwrap();
    let gate = AuthGate::from_settings(&auth, BUILTIN_PLUGINS).unwrap();
    assert!(gate.authenticates());
    let engine = Engine::open(EngineOptions::new(dir.join("data"))).unwrap();
    let state = AppState::new(Arc::new(engine), Arc::new(SharedGate::new(gate)));
    router(
        state,
        &HttpOptions {
            max_payload_bytes: 1 << 20,
            cors_allow_origins: Vec::new(),
            metrics: true,
        },
        None,
    )
}

/// A concrete URI for a route's path pattern.
fn concrete(path: &str) -> String {
    path.replace("{tenant}", "default_tenant")
        .replace("{database}", "default_database")
        .replace("{collection_id}", "5f1c3f52-0c41-4d0b-8a3b-8d5a3c2a1e0f")
        .replace("{crn}", "some-crn")
        .replace("{*rest}", "anything")
}

async fn send(app: &axum::Router, method: Method, uri: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn every_protected_route_refuses_a_caller_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let app = protected_app(dir.path());
    let paths = routes().paths;
    assert!(
        paths.len() > 30,
        "the route table lists the router's routes"
    );
    for &(public, _) in PUBLIC {
        assert!(
            paths.iter().any(|p| p == public),
            "public route {public} is no longer routed: update PUBLIC"
        );
    }
    for path in &paths {
        let uri = concrete(path);
        let public = PUBLIC.iter().find(|(p, _)| p == path);
        let mut routed = 0;
        for method in METHODS {
            let (status, body) = send(&app, method.clone(), &uri).await;
            if status == StatusCode::METHOD_NOT_ALLOWED {
                continue;
            }
            routed += 1;
            match public {
                Some(&(_, expected)) => {
                    assert_eq!(status, expected, "{method} {path}: {body}")
                }
                None => {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{method} {path} answered a caller without credentials: {body}"
                    );
                    assert!(body.contains("\"AuthError\""), "{method} {path}: {body}");
                }
            }
        }
        assert!(routed > 0, "{path} answers no method");
    }
}

#[tokio::test]
async fn wrong_credentials_are_refused_and_right_ones_pass() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let app = protected_app(dir.path());
    let basic = |user: &str, password: &str| {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {pair}")
    };
    let uri = concrete("/api/v2/tenants/{tenant}/databases/{database}/collections");
    for (authorization, expected) in [
        (basic("admin", "wrong"), StatusCode::FORBIDDEN),
        (basic("nobody", "secret"), StatusCode::FORBIDDEN),
        ("Bearer secret".to_string(), StatusCode::FORBIDDEN),
        (basic("admin", "secret"), StatusCode::OK),
    ] {
        let request = Request::builder()
            .uri(&uri)
            .header("authorization", &authorization)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), expected, "{authorization}");
    }
}
