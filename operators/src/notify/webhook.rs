//! Posting a JSON message to a webhook: a timeout per attempt, retries with a growing delay
//! on connection errors, timeouts, 429 and 5xx; a refusal (any other 4xx) is final. The URL
//! holds the secret (a Slack webhook's path, a `?token=`), so it never appears in an error
//! or a log line: only its host does.

use std::time::Duration;

use dagctl_engine::store::{is_web_url, redact_url};

/// Why a message was not delivered. Whose fault it is and whether retrying helps is in the
/// variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL is not an `http://` or `https://` URL (the user's to fix; retrying does not help).
    #[error("`{shown}` is not a webhook URL: use http:// or https://")]
    BadUrl {
        /// The URL as it may be shown.
        shown: String,
    },
    /// The receiver refused the message (a 4xx other than 429): the URL, its token or the body
    /// is wrong; retrying does not help.
    #[error("{shown} refused the message: HTTP {status}{body}")]
    Refused {
        /// The URL as it may be shown.
        shown: String,
        /// The status code.
        status: u16,
        /// The start of the receiver's answer, prefixed by `: ` when not empty.
        body: String,
    },
    /// Every attempt failed on the way or on the receiver's side (a network error, a timeout,
    /// 429 or 5xx): retrying later may help.
    #[error("{shown}: {attempts} attempt(s) failed, the last: {last}")]
    Unreachable {
        /// The URL as it may be shown.
        shown: String,
        /// How many attempts were made.
        attempts: u32,
        /// What the last one met.
        last: String,
    },
}

impl WebhookError {
    /// Whether a later retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, WebhookError::Unreachable { .. })
    }
}

/// How to post.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// The limit of one attempt.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// The delay before the first retry; doubled for each further one.
    pub retry_delay: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            timeout: Duration::from_secs(10),
            retries: 3,
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// What a delivered message met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The final status code (2xx).
    pub status: u16,
    /// Attempts it took.
    pub attempts: u32,
}

/// Posts `body` as JSON to `url`, retrying as `how` says. `note` is told about each failed
/// attempt that will be retried (a line for the task log, without the URL's secret).
///
/// # Errors
/// [`WebhookError`]: a bad URL, a refusal, or every attempt failed.
pub async fn post(
    url: &str,
    body: &serde_json::Value,
    how: Delivery,
    note: &(dyn Fn(String) + Send + Sync),
) -> Result<Delivered, WebhookError> {
    let shown = redact_url(url);
    if !is_web_url(url) {
        return Err(WebhookError::BadUrl { shown });
    }
    let client = reqwest::Client::builder()
        .timeout(how.timeout)
        .build()
        .map_err(|e| WebhookError::Unreachable {
            shown: shown.clone(),
            attempts: 0,
            last: e.without_url().to_string(),
        })?;
    let payload = serde_json::to_vec(body).unwrap_or_default();
    let mut delay = how.retry_delay;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .body(payload.clone())
            .send()
            .await;
        let problem = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                if resp.status().is_success() {
                    return Ok(Delivered {
                        status,
                        attempts: attempt,
                    });
                }
                let text = resp.text().await.unwrap_or_default();
                let body = excerpt(&text, url);
                if status != 429 && !(500..600).contains(&status) {
                    return Err(WebhookError::Refused {
                        shown,
                        status,
                        body,
                    });
                }
                format!("HTTP {status}{body}")
            }
            Err(e) => e.without_url().to_string(),
        };
        if attempt > how.retries {
            return Err(WebhookError::Unreachable {
                shown,
                attempts: attempt,
                last: problem,
            });
        }
        note(format!(
            "{shown}: attempt {attempt} failed ({problem}); retrying in {:.1}s",
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
    }
}

/// The start of a receiver's answer, one line, without the URL should it echo it back.
fn excerpt(text: &str, url: &str) -> String {
    let text = text.replace(url, "***");
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    if line.is_empty() {
        String::new()
    } else {
        format!(": {line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_url_that_is_not_http_is_refused_without_showing_it() {
        let e = post(
            "ftp://user:pw@host/secret",
            &serde_json::json!({}),
            Delivery::default(),
            &|_| {},
        )
        .await
        .unwrap_err();
        assert!(!e.is_transient());
        assert!(!e.to_string().contains("pw"), "{e}");
    }

    #[tokio::test]
    async fn nothing_listening_is_retried_then_reported_without_the_secret() {
        // A port nobody listens on: bind one, note it, drop it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/services/T0/B0/s3cr3t");
        let notes = std::sync::Mutex::new(Vec::new());
        let how = Delivery {
            timeout: Duration::from_secs(2),
            retries: 2,
            retry_delay: Duration::from_millis(10),
        };
        let e = post(&url, &serde_json::json!({"text": "x"}), how, &|l| {
            notes.lock().unwrap().push(l);
        })
        .await
        .unwrap_err();
        assert!(e.is_transient());
        let text = e.to_string();
        assert!(text.contains("3 attempt(s)"), "{text}");
        let notes = notes.into_inner().unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        for line in notes.iter().chain([&text]) {
            assert!(!line.contains("s3cr3t"), "{line}");
        }
    }

    #[test]
    fn an_answer_echoing_the_url_is_cut_and_masked() {
        let url = "http://h/secret-path";
        let long = format!("bad   request\n for {url} {}", "x".repeat(500));
        let e = excerpt(&long, url);
        assert!(e.starts_with(": bad request for *** x"), "{e}");
        assert!(e.len() < 210);
        assert_eq!(excerpt("  ", url), "");
    }
}
