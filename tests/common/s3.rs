//! The test S3 server's settings (`scripts/s3-server.sh` exports them), as a connection's
//! extras and as the variables a process must not see when only a connection may provide them.

/// The environment variables that configure S3 for a process.
pub const VARS: [&str; 5] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_ALLOW_HTTP",
];

/// The server's endpoint and keys as a connection's `--extra` JSON.
pub fn extra() -> String {
    let var = |k: &str| std::env::var(k).unwrap();
    serde_json::json!({
        "endpoint_url": var("AWS_ENDPOINT_URL"),
        "aws_access_key_id": var("AWS_ACCESS_KEY_ID"),
        "aws_secret_access_key": var("AWS_SECRET_ACCESS_KEY"),
        "region": "us-east-1",
        "allow_http": "true",
    })
    .to_string()
}
