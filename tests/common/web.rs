//! `dagctl webserver` started by a test on a free loopback port, a minimal HTTP/1.1 client to
//! talk to it, and the page in headless Chromium (`tests/python/render_check.py`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use super::Env;

/// A running web server, stopped (SIGTERM, then killed) on drop.
pub struct WebServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl WebServer {
    /// Starts `dagctl webserver --bind 127.0.0.1:0` in `env` with `extra` arguments and the
    /// token, if any, and waits for the address it prints.
    pub fn start(env: &Env, token: Option<&str>, extra: &[&str]) -> WebServer {
        Self::start_on(env, "127.0.0.1:0", token, extra)
    }

    /// As [`WebServer::start`], bound to `bind`.
    pub fn start_on(env: &Env, bind: &str, token: Option<&str>, extra: &[&str]) -> WebServer {
        let mut args = vec!["webserver", "--bind", bind];
        args.extend_from_slice(extra);
        let mut c = env.process(&args);
        c.env_remove("DAGCTL_WEB_TOKEN");
        if let Some(t) = token {
            c.env("DAGCTL_WEB_TOKEN", t);
        }
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim_end_matches('/')
            .to_string();
        WebServer { child, base }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    /// `GET path` as JSON, which must answer 200.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.body))
    }

    /// A request with headers and a body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        request(&self.base, method, path, headers, body)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`).
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// What Chromium saw of a page of the web view.
pub struct Seen {
    /// The page's visible text.
    pub text: String,
}

/// Loads `url` in headless Chromium: a screenshot that is not blank, no console error, no
/// request leaving the server; `wait_for` waits until the visible text holds it. `None`
/// (outside CI) when Chromium is missing.
pub fn in_chromium(url: &str, wait_for: Option<&str>) -> Option<Seen> {
    if !super::chromium_found() {
        return None;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let (png, text) = (dir.path().join("page.png"), dir.path().join("page.txt"));
    let mut c = std::process::Command::new("python3");
    c.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/render_check.py"
    ))
    .arg(url)
    .arg(&png)
    .arg("--text-out")
    .arg(&text)
    .args(["--window-size", "1280,1000", "--settle", "0.3"]);
    if let Some(w) = wait_for {
        c.args(["--wait-for", w, "--timeout", "40"]);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{url} in Chromium: {}",
        super::out_text(&out)
    );
    assert!(png.metadata().unwrap().len() > 1000);
    Some(Seen {
        text: std::fs::read_to_string(&text).unwrap(),
    })
}
