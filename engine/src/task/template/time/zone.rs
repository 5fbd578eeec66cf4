//! Time zones: pendulum's `Timezone` (printed by its name, `UTC`, `Europe/Paris`).

use std::fmt;
use std::sync::Arc;

use chrono_tz::Tz;
use minijinja::value::{Object, ObjectRepr, Value};

use super::bad;

/// A time zone value (`logical_date.tzinfo`), usable as `tzinfo=` and by `in_timezone`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TzInfo(pub(crate) Tz);

impl TzInfo {
    /// The zone a template names: a [`TzInfo`], or a name of the tz database (`UTC`,
    /// `Europe/Paris`).
    pub(crate) fn of(v: &Value) -> Result<Tz, minijinja::Error> {
        if let Some(z) = v.downcast_object_ref::<TzInfo>() {
            return Ok(z.0);
        }
        let name = v
            .as_str()
            .ok_or_else(|| bad(format!("`{v}` is not a time zone")))?;
        parse(name)
    }
}

/// A zone of the tz database by name (`utc` and `Z` accepted for UTC).
pub(crate) fn parse(name: &str) -> Result<Tz, minijinja::Error> {
    if name.eq_ignore_ascii_case("utc") || name == "Z" {
        return Ok(Tz::UTC);
    }
    name.parse::<Tz>().map_err(|_| {
        bad(format!(
            "`{name}` is not a time zone of the tz database (like `UTC` or `Europe/Paris`)"
        ))
    })
}

impl fmt::Display for TzInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl Object for TzInfo {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" | "key" => Some(Value::from(self.0.name())),
            _ => None,
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
