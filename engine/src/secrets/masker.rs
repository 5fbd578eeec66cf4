//! The secrets masker: every value of a secret Variable or connection becomes `***` in what
//! dagctl writes or shows (task logs, task errors, XCom, `dag_run.conf`), as Airflow's
//! secrets masker does for task logs.
//!
//! Which values are secret: a Variable whose name looks secret ([`is_secret_name`]), a
//! connection URL's password, and connection extras whose names look secret. Values shorter
//! than [`MIN_MASKED_LEN`] characters are not masked (masking `"1"` everywhere would make logs
//! unreadable and tell an attacker the value anyway). In JSON, the value of any key whose name
//! looks secret is masked whatever it is.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::store::{Store, StoreError, is_secret_name};

/// The shortest value that is masked.
pub const MIN_MASKED_LEN: usize = 4;

/// What a masked value is replaced by.
pub const MASK: &str = "***";

/// Finds the secrets in text and replaces them by `***` (one pass, whatever their number).
#[derive(Clone, Default)]
pub struct Masker {
    finder: Option<AhoCorasick>,
    values: Vec<String>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.finder.as_ref().map_or(0, |f| f.patterns_len());
        write!(f, "Masker({n} secrets)")
    }
}

impl Masker {
    /// A masker for these secret values (short and empty ones are ignored).
    pub fn new<I, S>(secrets: I) -> Masker
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut values: Vec<String> = secrets
            .into_iter()
            .map(Into::into)
            .filter(|s| s.chars().count() >= MIN_MASKED_LEN)
            .collect();
        // Longest first, so a secret that contains another is masked whole.
        values.sort_by_key(|s| std::cmp::Reverse(s.len()));
        values.dedup();
        if values.is_empty() {
            return Masker::default();
        }
        let finder = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&values)
            .ok();
        Masker { finder, values }
    }

    /// This masker plus the values of a run's `dag_run.conf` under secret-looking keys
    /// (`{"api_token": "…"}`), so a task echoing them does not show them either.
    pub fn with_conf(&self, conf: &serde_json::Value) -> Masker {
        fn collect(v: &serde_json::Value, secret: bool, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) if secret => out.push(s.clone()),
                serde_json::Value::Number(n) if secret => out.push(n.to_string()),
                serde_json::Value::Array(items) => {
                    items.iter().for_each(|i| collect(i, secret, out));
                }
                serde_json::Value::Object(map) => map
                    .iter()
                    .for_each(|(k, v)| collect(v, secret || is_secret_name(k), out)),
                _ => {}
            }
        }
        let mut more = Vec::new();
        collect(conf, false, &mut more);
        if more.is_empty() {
            return self.clone();
        }
        Masker::new(self.values.iter().cloned().chain(more))
    }

    /// The masker for the secrets a store holds: secret-named Variables, connection passwords
    /// (as written and percent-decoded) and secret-named connection extras.
    ///
    /// # Errors
    /// The store cannot be read, or a secret in it cannot be opened.
    pub async fn load(store: &dyn Store) -> Result<Masker, StoreError> {
        let mut secrets = Vec::new();
        for (key, value) in store.variables().await? {
            if is_secret_name(&key) {
                secrets.push(value);
            }
        }
        for c in store.connections().await? {
            if let Some(password) = url_password(&c.url) {
                secrets.push(percent_decode(&password));
                secrets.push(password);
            }
            secrets.extend(
                c.extra
                    .into_iter()
                    .filter(|(k, _)| is_secret_name(k))
                    .map(|(_, v)| v),
            );
        }
        Ok(Masker::new(secrets))
    }

    /// [`Masker::load`], or an empty masker (and a warning) when the store's secrets cannot be
    /// read: a task cannot read them either, and what shows text must not fail for it.
    pub async fn load_or_empty(store: &dyn Store) -> Masker {
        Masker::load(store).await.unwrap_or_else(|e| {
            tracing::warn!("cannot read the secrets to mask: {e}");
            Masker::default()
        })
    }

    /// Whether there is nothing to mask (beyond secret-named JSON keys).
    pub fn is_empty(&self) -> bool {
        self.finder.is_none()
    }

    /// Whether `text` holds a secret.
    pub fn finds(&self, text: &str) -> bool {
        self.finder.as_ref().is_some_and(|f| f.is_match(text))
    }

    /// `text` with every secret replaced by `***` (borrowed when there is none).
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(finder) = &self.finder else {
            return Cow::Borrowed(text);
        };
        let mut out = String::new();
        let mut last = 0;
        for m in finder.find_iter(text) {
            if last == 0 && out.is_empty() {
                out.reserve(text.len());
            }
            out.push_str(&text[last..m.start()]);
            out.push_str(MASK);
            last = m.end();
        }
        if last == 0 && out.is_empty() {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    /// A JSON value to show: secrets masked in every string, and the value of every key
    /// whose name looks secret (`password`, `api_key`, …) replaced by `"***"`.
    pub fn mask_json(&self, value: &serde_json::Value) -> serde_json::Value {
        self.walk(value, true)
    }

    /// A JSON value to keep (XCom): secrets masked in every string, keys left alone.
    pub fn mask_strings(&self, value: &serde_json::Value) -> serde_json::Value {
        if self.is_empty() {
            return value.clone();
        }
        self.walk(value, false)
    }

    fn walk(&self, value: &serde_json::Value, by_key: bool) -> serde_json::Value {
        use serde_json::Value as J;
        match value {
            J::String(s) => J::String(self.mask(s).into_owned()),
            J::Array(items) => J::Array(items.iter().map(|v| self.walk(v, by_key)).collect()),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = if by_key && is_secret_name(k) && !v.is_null() {
                            J::String(MASK.into())
                        } else {
                            self.walk(v, by_key)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The password of `scheme://user:password@host/…`, as written.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_string())
}

/// `%xx` escapes decoded (as in a URL's user and password).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_text_and_json() {
        let m = Masker::new(["hunter22", "hunter2222", "abc", ""]);
        assert_eq!(m.mask("pw=hunter2222 and hunter22."), "pw=*** and ***.");
        assert!(matches!(m.mask("nothing here abc"), Cow::Borrowed(_)));
        assert!(m.finds("x hunter22") && !m.finds("hunter2"));
        let conf = serde_json::json!({"db_password": 12345, "note": ["x hunter22"], "n": 1});
        assert_eq!(
            m.mask_json(&conf),
            serde_json::json!({"db_password": "***", "note": ["x ***"], "n": 1})
        );
        assert_eq!(
            url_password("postgres://u:p%40ss@h:5432/db").as_deref(),
            Some("p%40ss")
        );
        assert_eq!(percent_decode("p%40ss%"), "p@ss%");
        assert_eq!(url_password("s3://bucket/a@b:c"), None);
        assert!(Masker::new(["ab"]).is_empty());
        let run = m.with_conf(&serde_json::json!({"x": {"api_token": ["tok-1234"]}, "y": "open"}));
        assert_eq!(run.mask("tok-1234 hunter22 open"), "*** *** open");
        assert_eq!(
            run.mask_strings(&serde_json::json!({"password": "open", "v": "tok-1234"})),
            serde_json::json!({"password": "open", "v": "***"})
        );
    }
}
