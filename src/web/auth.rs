//! Who may read and act. On a loopback address reading is open to requests sent to a loopback
//! name (not to another name resolving there: DNS rebinding); elsewhere every request needs
//! the token. Actions always need it: as `Authorization: Bearer …`, or the `dagctl_token`
//! cookie `/login` sets (HttpOnly, SameSite=Strict), and then only from this server's own
//! pages (their `Origin` or `Referer`), so that another site's form cannot use it.

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

/// The bearer token of the `Authorization` header, if it holds one.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The token a request presents, if any: a bearer header's, else the cookie's.
fn presented(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = bearer(headers) {
        return Some(t);
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
    // A browser sends the cookie with any request to this server, whichever page made it;
    // a header token it sends only when told to. So a signed-in action must come from a
    // page of this server (SameSite alone lets another port of this host post).
    if bearer(headers).is_none() && !from_this_server(headers) {
        return Err(Fault::forbidden(
            "this action came from another site's page (its Origin or Referer is not this \
             server): use the buttons of the web view, or send `Authorization: Bearer <token>`",
        ));
    }
    Ok(())
}

/// Whether a request's `Origin` (or, without one, its `Referer`) is this server, as the
/// `Host` it was sent to names it.
fn from_this_server(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(host), Some(from)) = (
        text(header::HOST),
        text(header::ORIGIN).or_else(|| text(header::REFERER)),
    ) else {
        return false;
    };
    let Some(rest) = from
        .strip_prefix("http://")
        .or_else(|| from.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.eq_ignore_ascii_case(host)
}

/// Whether the `Host` a request was sent to names this machine (`localhost`, a loopback
/// address): on a loopback bind, reads are open only to those, so that a page of another
/// site whose name was made to resolve to 127.0.0.1 (DNS rebinding) reads nothing.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The middleware in front of every page and API route but `/login`.
pub async fn reads(State(app): State<Shared>, request: Request, next: Next) -> Response {
    if holds_token(&app, request.headers()) {
        return next.run(request).await;
    }
    if app.open_reads {
        if loopback_host(request.headers()) {
            return next.run(request).await;
        }
        let api = request.uri().path().starts_with("/api/") || request.uri().path() == "/metrics";
        let refused = Fault::forbidden(
            "this web view is bound to a loopback address and answers only to 127.0.0.1, \
             localhost or [::1] (another name may be a DNS rebinding): open it by one of those, \
             or bind another address with DAGCTL_WEB_TOKEN",
        );
        return if api {
            refused.json()
        } else {
            refused.into_response()
        };
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
        // Another scheme (a proxy's Basic credentials) is not a token: the cookie counts.
        h.insert(header::AUTHORIZATION, "Basic dXNlcjpwdw==".parse().unwrap());
        assert_eq!(presented(&h).as_deref(), Some("s3cret"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "bearer other".parse().unwrap());
        assert_eq!(presented(&h).as_deref(), Some("other"));
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn an_action_signed_by_cookie_comes_from_this_server() {
        let host = (header::HOST, "127.0.0.1:8080");
        for (from, ok) in [
            ((header::ORIGIN, "http://127.0.0.1:8080"), true),
            ((header::REFERER, "http://127.0.0.1:8080/dags/d"), true),
            ((header::ORIGIN, "http://127.0.0.1:9999"), false),
            ((header::ORIGIN, "http://evil.example"), false),
            ((header::ORIGIN, "null"), false),
            (
                (header::REFERER, "http://127.0.0.1:8080.evil.example/"),
                false,
            ),
        ] {
            assert_eq!(
                from_this_server(&headers(&[host.clone(), from.clone()])),
                ok,
                "{from:?}"
            );
        }
        assert!(!from_this_server(&headers(&[host])));
    }

    #[test]
    fn open_reads_answer_only_to_loopback_names() {
        for (h, ok) in [
            ("127.0.0.1:8080", true),
            ("localhost:8080", true),
            ("LOCALHOST", true),
            ("[::1]:8080", true),
            ("127.0.0.2:80", true),
            ("evil.example:8080", false),
            ("10.0.0.1:8080", false),
        ] {
            assert_eq!(loopback_host(&headers(&[(header::HOST, h)])), ok, "{h}");
        }
        assert!(!loopback_host(&HeaderMap::new()));
    }
}
