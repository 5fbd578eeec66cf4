//! Who may read and act. On a loopback address reading is open; elsewhere every request needs
//! the token. Actions always need it: as `Authorization: Bearer …`, or the `dagctl_token`
//! cookie `/login` sets (HttpOnly, SameSite=Strict, so another site's form cannot use it).

use axum::extract::{Form, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::fault::Fault;
use super::{Shared, html};

const COOKIE: &str = "dagctl_token";

/// Whether two byte strings are equal, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token a request presents, if any.
fn presented(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Whether the request carries the configured token.
pub fn holds_token(app: &Shared, headers: &HeaderMap) -> bool {
    match (&app.token, presented(headers)) {
        (Some(t), Some(p)) => same(t.as_bytes(), p.as_bytes()),
        _ => false,
    }
}

/// An action's check: the token must be configured and presented.
pub fn may_act(app: &Shared, headers: &HeaderMap) -> Result<(), Fault> {
    if app.token.is_none() {
        return Err(Fault::forbidden(
            "actions are disabled: start `dagctl webserver` with DAGCTL_WEB_TOKEN set, then \
             sign in at /login (or send `Authorization: Bearer <token>`)",
        ));
    }
    if !holds_token(app, headers) {
        return Err(Fault::forbidden(
            "this action needs the web token: sign in at /login, or send `Authorization: \
             Bearer <token>`",
        ));
    }
    Ok(())
}

/// The middleware in front of every page and API route but `/login`.
pub async fn reads(State(app): State<Shared>, request: Request, next: Next) -> Response {
    if app.open_reads || holds_token(&app, request.headers()) {
        return next.run(request).await;
    }
    if request.uri().path().starts_with("/api/") || request.uri().path() == "/metrics" {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "send `Authorization: Bearer <token>` (DAGCTL_WEB_TOKEN)", "status": 401})),
        )
            .into_response();
    }
    Redirect::to("/login").into_response()
}

/// The sign-in form.
pub async fn login_page() -> Html<String> {
    Html(html::page(
        "sign in",
        "<h1>Sign in</h1><form method=\"post\" action=\"/login\"><p>The web token \
         (DAGCTL_WEB_TOKEN of the server):</p><input type=\"password\" name=\"token\" \
         autocomplete=\"current-password\" size=\"40\"> <button type=\"submit\">Sign in</button>\
         </form>",
    ))
}

/// The form's answer.
#[derive(serde::Deserialize)]
pub struct Login {
    token: String,
}

/// Checks the token and sets the cookie.
pub async fn login(State(app): State<Shared>, Form(f): Form<Login>) -> Response {
    let ok = app
        .token
        .as_ref()
        .is_some_and(|t| same(t.as_bytes(), f.token.trim().as_bytes()));
    if !ok {
        return Fault::forbidden("wrong token (or the server has none: DAGCTL_WEB_TOKEN)")
            .into_response();
    }
    (
        [(
            header::SET_COOKIE,
            format!(
                "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                f.token.trim()
            ),
        )],
        Redirect::to("/"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_header_or_the_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(presented(&h), None);
        h.insert(header::COOKIE, "a=1; dagctl_token=s3cret".parse().unwrap());
        assert_eq!(presented(&h).as_deref(), Some("s3cret"));
        h.insert(header::AUTHORIZATION, "Bearer other".parse().unwrap());
        assert_eq!(presented(&h).as_deref(), Some("other"));
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
