//! What a request that cannot be answered gets: a status and a message saying what to do, as a
//! page for pages and as `{"error": …}` for the API. Messages come from our own errors, which
//! never hold a secret (store URLs are redacted where they are made).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::html;

/// A request's failure.
#[derive(Debug)]
pub struct Fault {
    pub status: StatusCode,
    pub message: String,
}

impl Fault {
    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Fault {
        Fault {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Fault {
        Fault {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 403 with a message.
    pub fn forbidden(message: impl Into<String>) -> Fault {
        Fault {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// As the API answers it.
    pub fn json(self) -> Response {
        (
            self.status,
            axum::Json(serde_json::json!({"error": self.message, "status": self.status.as_u16()})),
        )
            .into_response()
    }
}

/// A store failure's status: 503 when asking again later may help, else 500.
fn store_status(s: &dagctl::engine::StoreError) -> StatusCode {
    if s.is_transient() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl<E: Into<anyhow::Error>> From<E> for Fault {
    fn from(e: E) -> Fault {
        use dagctl::engine::{EngineError, StoreError};
        use dagctl::operators::registry::RegistryError;
        let e: anyhow::Error = e.into();
        let message = format!("{e:#}");
        // The type says whose fault it is where there is one: an unknown DAG, run or task
        // and bad options are the caller's, a store that does not answer is no one's to fix
        // by asking again at once.
        let typed = e.chain().find_map(|c| {
            if let Some(engine) = c.downcast_ref::<EngineError>() {
                return match engine {
                    EngineError::UnknownDag { .. }
                    | EngineError::UnknownTask { .. }
                    | EngineError::UnknownRun { .. } => Some(StatusCode::NOT_FOUND),
                    EngineError::BadOptions(_) => Some(StatusCode::BAD_REQUEST),
                    // Transparent: its store error is not further down the chain.
                    EngineError::Store(s) => Some(store_status(s)),
                    _ => None,
                };
            }
            if c.is::<crate::cli::NotFound>() {
                return Some(StatusCode::NOT_FOUND);
            }
            if let Some(r) = c.downcast_ref::<RegistryError>() {
                return match r {
                    RegistryError::NoModel(_)
                    | RegistryError::NoVersion { .. }
                    | RegistryError::NoProduction(_) => Some(StatusCode::NOT_FOUND),
                    RegistryError::Store(s) => Some(store_status(s)),
                    _ => None,
                };
            }
            c.downcast_ref::<StoreError>().map(store_status)
        });
        let status = typed.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Fault { status, message }
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let body = format!(
            "<h1>{} {}</h1><p class=\"error\">{}</p><p><a href=\"/\">DAGs</a></p>",
            self.status.as_u16(),
            html::escape(self.status.canonical_reason().unwrap_or("")),
            html::escape(&self.message)
        );
        (self.status, Html(html::page("error", &body))).into_response()
    }
}

/// An API answer: JSON, or the fault as JSON.
pub type ApiResult = Result<axum::Json<serde_json::Value>, ApiFault>;

/// A [`Fault`] answered as JSON.
#[derive(Debug)]
pub struct ApiFault(pub Fault);

impl<E: Into<Fault>> From<E> for ApiFault {
    fn from(e: E) -> ApiFault {
        ApiFault(e.into())
    }
}

impl IntoResponse for ApiFault {
    fn into_response(self) -> Response {
        self.0.json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The status comes from the error's type, never from its text.
    #[test]
    fn the_type_of_an_error_says_its_status() {
        let status = |e: anyhow::Error| Fault::from(e).status;
        let missing = crate::cli::NotFound("no Variable `x`".into());
        assert_eq!(status(missing.into()), StatusCode::NOT_FOUND);
        let wrapped = anyhow::Error::from(crate::cli::NotFound("gone".into())).context("reading");
        assert_eq!(
            status(wrapped),
            StatusCode::NOT_FOUND,
            "found down the chain"
        );
        let model = dagctl::operators::registry::RegistryError::NoModel("m".into());
        assert_eq!(status(model.into()), StatusCode::NOT_FOUND);
        assert_eq!(
            status(anyhow::anyhow!(
                "no such luck: a message that reads like one"
            )),
            StatusCode::INTERNAL_SERVER_ERROR,
            "text decides nothing"
        );
    }
}
