//! Arguments that may come from a template: `"{{ params.window_days }}"` renders to the text
//! `"30"`, which is read as the number it spells.

use serde::{Deserialize, Deserializer};

/// A number given as a number or as text that parses as one.
///
/// # Errors
/// Text that is not a number of the field's type, naming the text.
pub fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        Number(T),
        Text(String),
    }
    match Either::<T>::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(s) => s.trim().parse().map_err(|_| {
            serde::de::Error::custom(format!("`{s}` is not a number of the expected kind"))
        }),
    }
}

/// Arguments as `check_args` can read them before rendering: each named argument that is a
/// template is replaced by `placeholder` (its value is checked once rendered, when the task
/// runs).
pub fn untemplated(
    args: &serde_json::Value,
    names: &[&str],
    placeholder: serde_json::Value,
) -> serde_json::Value {
    let mut args = args.clone();
    for name in names {
        if let Some(v) = args.get_mut(*name)
            && v.as_str().is_some_and(|t| t.contains("{{"))
        {
            *v = placeholder.clone();
        }
    }
    args
}
