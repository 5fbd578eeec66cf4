//! S3 settings from the AWS shared files, as the AWS CLI and SDKs read them: the profile
//! `AWS_PROFILE` (else `default`) of the credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`: `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`) and
//! of the config file (`AWS_CONFIG_FILE`, else `~/.aws/config`, sections `[profile NAME]` or
//! `[default]`: `region`, `endpoint_url`). Environment variables come first, as in the SDKs; a
//! connection's settings and the URL's keys come after, as everywhere in dagctl.

use std::collections::BTreeMap;
use std::path::PathBuf;

use object_store::aws::AmazonS3ConfigKey;

/// A setting found in a profile, and the environment variable that would take its place.
const KEYS: [(&str, &str, AmazonS3ConfigKey); 5] = [
    (
        "aws_access_key_id",
        "AWS_ACCESS_KEY_ID",
        AmazonS3ConfigKey::AccessKeyId,
    ),
    (
        "aws_secret_access_key",
        "AWS_SECRET_ACCESS_KEY",
        AmazonS3ConfigKey::SecretAccessKey,
    ),
    (
        "aws_session_token",
        "AWS_SESSION_TOKEN",
        AmazonS3ConfigKey::Token,
    ),
    ("region", "AWS_REGION", AmazonS3ConfigKey::Region),
    (
        "endpoint_url",
        "AWS_ENDPOINT_URL",
        AmazonS3ConfigKey::Endpoint,
    ),
];

fn file(var: &str, default: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws").join(default)),
    }
}

/// The `key = value` lines of section `section` of an INI text; `None` when there is no such
/// section.
fn section(text: &str, wanted: &[String]) -> Option<BTreeMap<String, String>> {
    let mut found = None::<BTreeMap<String, String>>;
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = wanted.iter().any(|w| w == name.trim());
            if inside {
                found.get_or_insert_with(BTreeMap::new);
            }
            continue;
        }
        if inside
            && let Some((k, v)) = line.split_once('=')
            && let Some(map) = found.as_mut()
        {
            map.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    found
}

/// The settings of the active profile that no environment variable overrides, or an error
/// (without any value) when `AWS_PROFILE` names a profile neither file has.
pub(crate) fn settings() -> Result<Vec<(AmazonS3ConfigKey, String)>, String> {
    let explicit = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let name = explicit.clone().unwrap_or_else(|| "default".to_string());
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config = file("AWS_CONFIG_FILE", "config");
    let read = |p: &Option<PathBuf>| {
        p.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let from_credentials = section(&read(&credentials), std::slice::from_ref(&name));
    let config_names = if name == "default" {
        vec!["default".to_string(), "profile default".to_string()]
    } else {
        vec![format!("profile {name}")]
    };
    let from_config = section(&read(&config), &config_names);
    if from_credentials.is_none() && from_config.is_none() {
        if explicit.is_some() {
            let shown = |p: &Option<PathBuf>| {
                p.as_ref()
                    .map_or_else(|| "(no HOME)".to_string(), |p| p.display().to_string())
            };
            return Err(format!(
                "AWS_PROFILE `{name}` is in neither {} nor {}: add it (`aws configure --profile {name}`) or unset AWS_PROFILE",
                shown(&credentials),
                shown(&config)
            ));
        }
        return Ok(Vec::new());
    }
    let mut merged = from_config.unwrap_or_default();
    merged.extend(from_credentials.unwrap_or_default());
    let mut out = Vec::new();
    for (key, env, config_key) in KEYS {
        let aliases: &[&str] = match env {
            "AWS_ENDPOINT_URL" => &["AWS_ENDPOINT_URL", "AWS_ENDPOINT"],
            "AWS_REGION" => &["AWS_REGION", "AWS_DEFAULT_REGION"],
            _ => std::slice::from_ref(&env),
        };
        if aliases.iter().any(|e| std::env::var_os(e).is_some()) {
            continue;
        }
        if let Some(v) = merged.get(key) {
            if key == "endpoint_url" && v.to_ascii_lowercase().starts_with("http://") {
                out.push((
                    AmazonS3ConfigKey::Client(object_store::ClientConfigKey::AllowHttp),
                    "true".into(),
                ));
            }
            out.push((config_key, v.clone()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_read_with_their_keys_and_comments_skipped() {
        let text = "# c\n[default]\naws_access_key_id = A\n[profile dev]\nregion=eu-west-1\n; x\nendpoint_url = http://127.0.0.1:9000\n[other]\nregion = us\n";
        let d = section(text, &["default".into()]).unwrap();
        assert_eq!(d.get("aws_access_key_id").map(String::as_str), Some("A"));
        let dev = section(text, &["profile dev".into()]).unwrap();
        assert_eq!(dev.len(), 2);
        assert_eq!(dev["endpoint_url"], "http://127.0.0.1:9000");
        assert!(section(text, &["nope".into()]).is_none());
        assert!(section("[empty]\n", &["empty".into()]).unwrap().is_empty());
    }
}
