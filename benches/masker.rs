//! The secrets masker on a 100 MB task log: what masking costs on the log path (a try's lines
//! into its [`LogBuffer`], taken in chunks as the heartbeat does) with 20 secrets, beside the
//! same path without a masker. Run with
//! `DAGCTL_LOG_MAX_BYTES=200000000 cargo bench --bench masker` (a cap above the log's size, so
//! every line takes the path a kept line takes).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dagctl::engine::LogBuffer;
use dagctl::engine::secrets::Masker;

/// 100 MB of log lines like a data job's (about 100 bytes each), one in 10,000 with a secret.
fn log_lines(secrets: &[String], size: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut total = 0;
    let mut i = 0u64;
    while total < size {
        let line = if i.is_multiple_of(10_000) {
            format!(
                "{i:>10} connecting with password={} to the warehouse",
                secrets[(i as usize / 10_000) % secrets.len()]
            )
        } else {
            format!(
                "{i:>10} INFO rows read: {} batch {} of table customers_{} ok",
                i * 7 % 100_003,
                i % 977,
                i % 13
            )
        };
        total += line.len() + 1;
        lines.push(line);
        i += 1;
    }
    lines
}

/// Every line through a log buffer, taken every 20,000 lines (a heartbeat's worth).
fn through(buffer: &LogBuffer, lines: &[String]) -> usize {
    let mut out = 0;
    for chunk in lines.chunks(20_000) {
        for l in chunk {
            buffer.line(l);
        }
        out += buffer.take().map_or(0, |(_, t)| t.len());
    }
    out
}

fn bench(c: &mut Criterion) {
    // 100 MB when the cap allows it (`DAGCTL_LOG_MAX_BYTES=200000000`, as the figures are
    // taken); 12 MB under the default 16 MiB cap (`cargo test --all-targets` runs this once).
    let cap: usize = std::env::var("DAGCTL_LOG_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let size = if cap >= 200_000_000 {
        100_000_000
    } else {
        12_000_000
    };
    println!("log of {} MB", size / 1_000_000);
    let secrets: Vec<String> = (0..20)
        .map(|i| format!("s3cr3t-value-{i:02}-Zq8"))
        .collect();
    let lines = log_lines(&secrets, size);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let masker = Arc::new(Masker::new(secrets.clone()));
    // The masked log has no secret left.
    let check = LogBuffer::masked(Arc::clone(&masker));
    for l in &lines[..20_001] {
        check.line(l);
    }
    let (_, text) = check.take().unwrap();
    assert!(!secrets.iter().any(|s| text.contains(s.as_str())) && text.contains("password=***"));

    let mut group = c.benchmark_group("log_100MB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("without_masker", |b| {
        b.iter(|| black_box(through(&LogBuffer::default(), &lines)))
    });
    group.bench_function("with_masker_20_secrets", |b| {
        b.iter(|| black_box(through(&LogBuffer::masked(Arc::clone(&masker)), &lines)))
    });
    let text = lines.join("\n");
    group.bench_function("mask_only", |b| {
        b.iter(|| black_box(masker.mask(&text).len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
