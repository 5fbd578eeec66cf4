//! `conn` as Airflow 3's templates have it: `{{ conn.warehouse.host }}`, `.login`,
//! `.password`, `.port`, `.schema`, `.conn_type`, `.extra_dejson`, `.get_uri()` — read from
//! the connections dagctl keeps (a URL and settings). Values inserted into a command are
//! still masked in its log, as every connection secret is.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error, State};

use crate::secrets::masker::percent_decode;
use crate::store::Connection;

/// The `conn` accessor: a connection by name.
#[derive(Debug)]
pub(super) struct Connections(pub(super) Vec<Connection>);

impl Object for Connections {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let c = self.0.iter().find(|c| c.name == name)?;
        Some(Value::from_object(Conn::of(c)))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            // `conn.get('name')`: None for an unknown connection.
            "get" => {
                let (name, default): (&str, Option<Value>) = minijinja::value::from_args(args)?;
                Ok(self
                    .get_value(&Value::from(name))
                    .or(default)
                    .unwrap_or(Value::from(())))
            }
            _ => Err(super::time::unknown_method("conn", method, &["get"])),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<conn>")
    }
}

/// One connection's parts, as Airflow's `Connection` has them.
#[derive(Debug, Default)]
struct Conn {
    conn_id: String,
    conn_type: String,
    host: String,
    port: Option<u16>,
    login: Option<String>,
    password: Option<String>,
    schema: String,
    url: String,
    extra: Vec<(String, String)>,
}

impl Conn {
    /// `scheme://[login[:password]@]host[:port][/schema][?…]` and the settings.
    fn of(c: &Connection) -> Conn {
        let mut out = Conn {
            conn_id: c.name.clone(),
            url: c.url.clone(),
            extra: c
                .extra
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..Conn::default()
        };
        let Some((scheme, rest)) = c.url.split_once("://") else {
            return out;
        };
        out.conn_type = scheme.to_string();
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let host_port = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let (login, password) = match userinfo.split_once(':') {
                    Some((l, p)) => (l, Some(p)),
                    None => (userinfo, None),
                };
                out.login = Some(percent_decode(login));
                out.password = password.map(percent_decode);
                host
            }
            None => authority,
        };
        match host_port.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => {
                out.host = h.to_string();
                out.port = p.parse().ok();
            }
            _ => out.host = host_port.to_string(),
        }
        out.schema = path
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string();
        out
    }
}

impl Object for Conn {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let text = |s: &str| Value::from(s);
        let maybe = |s: &Option<String>| s.as_deref().map_or(Value::from(()), Value::from);
        let extra = || {
            Value::from(
                self.extra
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            )
        };
        Some(match key.as_str()? {
            "conn_id" => text(&self.conn_id),
            "conn_type" => text(&self.conn_type),
            "host" => text(&self.host),
            "port" => self.port.map_or(Value::from(()), Value::from),
            "login" => maybe(&self.login),
            "password" => maybe(&self.password),
            "schema" => text(&self.schema),
            "extra_dejson" => extra(),
            "extra" => Value::from(
                serde_json::to_string(
                    &self
                        .extra
                        .iter()
                        .cloned()
                        .collect::<std::collections::BTreeMap<_, _>>(),
                )
                .unwrap_or_default(),
            ),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let () = minijinja::value::from_args(args)?;
        match method {
            "get_uri" => Ok(Value::from(self.url.as_str())),
            _ => Err(super::time::unknown_method(
                "Connection",
                method,
                &["get_uri"],
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.conn_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_url_gives_airflows_parts() {
        let c = Connection {
            name: "wh".into(),
            url: "postgres://ana:p%40ss@db.example:5433/sales?sslmode=require".into(),
            extra: [("region".to_string(), "eu".to_string())].into(),
        };
        let c = Conn::of(&c);
        assert_eq!(
            (
                c.conn_type.as_str(),
                c.host.as_str(),
                c.port,
                c.login.as_deref(),
                c.password.as_deref(),
                c.schema.as_str()
            ),
            (
                "postgres",
                "db.example",
                Some(5433),
                Some("ana"),
                Some("p@ss"),
                "sales"
            )
        );
        let c = Conn::of(&Connection {
            name: "lake".into(),
            url: "s3://bucket/prefix".into(),
            extra: Default::default(),
        });
        assert_eq!(
            (c.host.as_str(), c.port, c.login, c.schema.as_str()),
            ("bucket", None, None, "prefix")
        );
    }
}
