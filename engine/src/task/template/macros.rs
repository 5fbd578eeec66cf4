//! `macros` as Airflow has it: `datetime`, `timedelta`, `dateutil.relativedelta`, `time`,
//! `uuid`, `random`, `json`, `ds_add`, `ds_format`, `datetime_diff_for_humans`.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use minijinja::value::{Kwargs, Object, ObjectRepr, Value, from_args};
use minijinja::{Error, ErrorKind, State};

use super::time::{FIELDS, Flavor, PyDateTime, RelativeDelta, TimeDelta, TzInfo, bad};

/// A function of `macros` (so that it can take Python's keyword arguments and print as
/// Python prints a function).
struct Func {
    name: &'static str,
    f: fn(&[Value]) -> Result<Value, Error>,
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl Object for Func {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        (self.f)(args)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<function {}>", self.name)
    }
}

fn func(name: &'static str, f: fn(&[Value]) -> Result<Value, Error>) -> Value {
    Value::from_object(Func { name, f })
}

/// A module of `macros` (`macros.json`, `macros.time` …): functions by name.
fn module(items: Vec<(&'static str, Value)>) -> Value {
    Value::from(
        items
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
    )
}

/// The `macros` value.
pub(super) fn macros() -> Value {
    let relativedelta = func("relativedelta", |a| {
        RelativeDelta::construct(a).map(Value::from_object)
    });
    module(vec![
        ("datetime", Value::from_object(DateTimeClass)),
        (
            "timedelta",
            func("timedelta", |a| {
                TimeDelta::construct(a).map(Value::from_object)
            }),
        ),
        (
            "dateutil",
            module(vec![(
                "relativedelta",
                module(vec![("relativedelta", relativedelta)]),
            )]),
        ),
        (
            "time",
            module(vec![
                (
                    "time",
                    func("time", |a| {
                        let () = from_args(a)?;
                        Ok(Value::from(Utc::now().timestamp_micros() as f64 / 1e6))
                    }),
                ),
                ("gmtime", func("gmtime", gmtime)),
                ("strftime", func("strftime", time_strftime)),
            ]),
        ),
        (
            "uuid",
            module(vec![
                ("UUID", func("UUID", uuid_parse)),
                (
                    "uuid4",
                    func("uuid4", |a| {
                        let () = from_args(a)?;
                        let mut bytes: [u8; 16] = rand::random();
                        bytes[6] = (bytes[6] & 0x0f) | 0x40;
                        bytes[8] = (bytes[8] & 0x3f) | 0x80;
                        Ok(Value::from_object(Uuid(u128::from_be_bytes(bytes))))
                    }),
                ),
            ]),
        ),
        // As in Airflow, `macros.random` is the function `random.random`.
        (
            "random",
            func("random", |a| {
                let () = from_args(a)?;
                Ok(Value::from(rand::random::<f64>()))
            }),
        ),
        (
            "json",
            module(vec![
                ("dumps", func("dumps", super::json::dumps)),
                ("loads", func("loads", super::json::loads)),
            ]),
        ),
        (
            "ds_add",
            func("ds_add", |a| {
                let (ds, days): (String, i64) = from_args(a)?;
                ds_add(&ds, days).map(Value::from)
            }),
        ),
        (
            "ds_format",
            func("ds_format", |a| {
                let (ds, input, output): (String, String, String) = from_args(a)?;
                ds_format(&ds, &input, &output).map(Value::from)
            }),
        ),
        (
            "datetime_diff_for_humans",
            func("datetime_diff_for_humans", |a| {
                let (dt, since): (Value, Option<Value>) = from_args(a)?;
                let dt = super::time::as_datetime(&dt)?;
                // pendulum.instance() makes a naive value UTC.
                let dt = PyDateTime::new(
                    dt.local(),
                    dt.tz().or(Some(chrono_tz::Tz::UTC)),
                    Flavor::Pendulum,
                )?;
                let since = since.filter(|v| !v.is_none());
                let since = since.as_ref().map(super::time::as_datetime).transpose()?;
                dt.diff_for_humans(since, false).map(Value::from)
            }),
        ),
    ])
}

/// `datetime.datetime`: called it makes a date-time; it has `strptime`, `now`, `utcnow`,
/// `fromisoformat`, `fromtimestamp`.
#[derive(Debug)]
struct DateTimeClass;

impl Object for DateTimeClass {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (pos, kwargs): (&[Value], Kwargs) = from_args(args)?;
        let mut parts = [0i64; 7];
        for (i, name) in FIELDS.iter().enumerate() {
            let v = match pos.get(i) {
                Some(v) => Some(v.clone()),
                None => kwargs.get::<Option<Value>>(name)?,
            };
            match v {
                Some(v) => {
                    parts[i] =
                        i64::try_from(v).map_err(|_| bad(format!("`{name}` must be an integer")))?
                }
                None if i < 3 => return Err(bad(format!("datetime() is missing `{name}`"))),
                None => {}
            }
        }
        let tz = match pos
            .get(7)
            .cloned()
            .or(kwargs.get::<Option<Value>>("tzinfo")?)
        {
            Some(v) if !v.is_none() => Some(TzInfo::of(&v)?),
            _ => None,
        };
        kwargs.assert_all_used()?;
        let u = |i: usize| u32::try_from(parts[i]).ok();
        let date = NaiveDate::from_ymd_opt(
            i32::try_from(parts[0]).unwrap_or(-1),
            u(1).unwrap_or(0),
            u(2).unwrap_or(0),
        )
        .ok_or_else(|| bad("day is out of range for month"))?;
        let time = NaiveTime::from_hms_micro_opt(
            u(3).unwrap_or(99),
            u(4).unwrap_or(99),
            u(5).unwrap_or(99),
            u(6).unwrap_or(u32::MAX),
        )
        .ok_or_else(|| bad("time value out of range"))?;
        Ok(Value::from_object(PyDateTime::new(
            date.and_time(time),
            tz,
            Flavor::Python,
        )?))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let python =
            |t: NaiveDateTime, tz| PyDateTime::new(t, tz, Flavor::Python).map(Value::from_object);
        match method {
            "strptime" => {
                let (text, format): (&str, &str) = from_args(args)?;
                python(strptime(text, format)?, None)
            }
            "now" | "utcnow" => {
                let (tz,): (Option<Value>,) = from_args(args)?;
                let now = Utc::now();
                match tz.filter(|v| !v.is_none()) {
                    Some(tz) => {
                        let tz = TzInfo::of(&tz)?;
                        python(now.with_timezone(&tz).naive_local(), Some(tz))
                    }
                    None => python(now.naive_utc(), None),
                }
            }
            "fromisoformat" => {
                let (text,): (&str,) = from_args(args)?;
                if let Ok(t) = DateTime::parse_from_rfc3339(text) {
                    let tz = (t.offset().local_minus_utc() == 0).then_some(chrono_tz::Tz::UTC);
                    return match tz {
                        Some(tz) => python(t.naive_utc(), Some(tz)),
                        None => Err(bad(
                            "dagctl reads aware ISO date-times in UTC only (`+00:00`)",
                        )),
                    };
                }
                for f in [
                    "%Y-%m-%dT%H:%M:%S%.f",
                    "%Y-%m-%d %H:%M:%S%.f",
                    "%Y-%m-%dT%H:%M",
                    "%Y-%m-%d %H:%M",
                ] {
                    if let Ok(t) = NaiveDateTime::parse_from_str(text, f) {
                        return python(t, None);
                    }
                }
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| bad(format!("Invalid isoformat string: '{text}'")))
                    .and_then(|d| python(d.and_time(NaiveTime::MIN), None))
            }
            "fromtimestamp" | "utcfromtimestamp" => {
                let (secs, tz): (f64, Option<Value>) = from_args(args)?;
                let t = DateTime::<Utc>::from_timestamp_micros((secs * 1e6) as i64)
                    .ok_or_else(|| bad("timestamp out of range"))?;
                match tz.filter(|v| !v.is_none()) {
                    Some(tz) => {
                        let tz = TzInfo::of(&tz)?;
                        python(t.with_timezone(&tz).naive_local(), Some(tz))
                    }
                    None => python(t.naive_utc(), None),
                }
            }
            _ => Err(super::time::unknown_method(
                "datetime",
                method,
                &[
                    "strptime",
                    "now",
                    "utcnow",
                    "fromisoformat",
                    "fromtimestamp",
                ],
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<class 'datetime.datetime'>")
    }
}

/// Python's `strptime`: the fields the format has, the rest from 1900-01-01 00:00.
fn strptime(text: &str, format: &str) -> Result<NaiveDateTime, Error> {
    let no_match = || {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("time data '{text}' does not match format '{format}'"),
        )
    };
    // Python's `.%f` takes 1 to 6 digits after the dot (chrono's `%.f`).
    let format = format.replace(".%f", "%.f").replace("%f", "%6f");
    if let Ok(t) = NaiveDateTime::parse_from_str(text, &format) {
        return Ok(t);
    }
    // Only some fields (`%Y-%m`, `%Y%m%d%H`): the rest as Python completes them, from
    // 1900-01-01 00:00:00.
    let mut parsed = chrono::format::Parsed::new();
    chrono::format::parse(
        &mut parsed,
        text,
        chrono::format::StrftimeItems::new(&format),
    )
    .map_err(|_| no_match())?;
    let date = NaiveDate::from_ymd_opt(
        parsed.year().unwrap_or(1900),
        parsed.month().unwrap_or(1),
        parsed.day().unwrap_or(1),
    )
    .ok_or_else(no_match)?;
    let hour = match (parsed.hour_div_12(), parsed.hour_mod_12()) {
        (Some(d), Some(m)) => d * 12 + m,
        (None, Some(m)) => m,
        _ => 0,
    };
    let nanos = parsed.nanosecond().unwrap_or(0);
    let time = NaiveTime::from_hms_nano_opt(
        hour,
        parsed.minute().unwrap_or(0),
        parsed.second().unwrap_or(0),
        nanos / 1000 * 1000,
    )
    .ok_or_else(no_match)?;
    Ok(date.and_time(time))
}

/// `time.gmtime(secs)`: a UTC `struct_time`, here a naive date-time.
fn gmtime(args: &[Value]) -> Result<Value, Error> {
    let (secs,): (Option<f64>,) = from_args(args)?;
    let t = match secs {
        Some(s) => DateTime::<Utc>::from_timestamp(s.floor() as i64, 0)
            .ok_or_else(|| bad("timestamp out of range"))?,
        None => Utc::now(),
    };
    PyDateTime::new(t.naive_utc(), None, Flavor::Python).map(Value::from_object)
}

/// `time.strftime(format, struct_time)`.
fn time_strftime(args: &[Value]) -> Result<Value, Error> {
    let (format, t): (String, Option<Value>) = from_args(args)?;
    let t = match t {
        Some(t) => t,
        None => gmtime(&[])?,
    };
    Ok(Value::from(super::time::as_datetime(&t)?.strftime(&format)))
}

/// `macros.ds_add("2026-01-31", 1)` → `"2026-02-01"`.
pub(super) fn ds_add(ds: &str, days: i64) -> Result<String, Error> {
    let day = parse_ds(ds)?;
    Duration::try_days(days)
        .and_then(|d| day.checked_add_signed(d))
        .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| {
            bad(format!(
                "macros.ds_add(`{ds}`, {days}) leaves the years 1 to 9999"
            ))
        })
}

/// `macros.ds_format("2026-01-31", "%Y-%m-%d", "%d/%m/%Y")` → `"31/01/2026"`.
pub(super) fn ds_format(ds: &str, input: &str, output: &str) -> Result<String, Error> {
    let d = NaiveDate::parse_from_str(ds, input)
        .map_err(|_| bad(format!("`{ds}` does not match the format `{input}`")))?;
    // An unknown `%` directive makes chrono's formatter fail: say so instead of panicking.
    let mut text = String::new();
    fmt::Write::write_fmt(&mut text, format_args!("{}", d.format(output))).map_err(|_| {
        bad(format!(
            "`{output}` is not a date format (use %Y, %m, %d, …)"
        ))
    })?;
    Ok(text)
}

fn parse_ds(ds: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(ds, "%Y-%m-%d")
        .map_err(|_| bad(format!("`{ds}` is not a date like 2026-01-31")))
}

/// Python's `uuid.UUID`.
#[derive(Debug, Clone, Copy)]
struct Uuid(u128);

fn uuid_parse(args: &[Value]) -> Result<Value, Error> {
    let (text,): (&str,) = from_args(args)?;
    let hex: String = text
        .trim_start_matches("urn:uuid:")
        .chars()
        .filter(|c| !matches!(c, '-' | '{' | '}'))
        .collect();
    if hex.len() != 32 {
        return Err(bad("badly formed hexadecimal UUID string"));
    }
    u128::from_str_radix(&hex, 16)
        .map(|n| Value::from_object(Uuid(n)))
        .map_err(|_| bad("badly formed hexadecimal UUID string"))
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

impl Object for Uuid {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "hex" => Some(Value::from(format!("{:032x}", self.0))),
            "int" => Some(Value::from(self.0)),
            "version" => Some(Value::from((self.0 >> 76) & 0xf)),
            "urn" => Some(Value::from(format!("urn:uuid:{self}"))),
            _ => None,
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
