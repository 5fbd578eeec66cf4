//! Careless or hostile input is refused before anything runs, naming the value and what to
//! do: run ids that could reach a shell, Variable names that could not be read back, a cron
//! that never fires, a suite range nothing can be in, and a backfill too long to create.

use crate::common;

use common::Env;

#[test]
fn a_run_id_with_shell_syntax_is_refused_before_any_run_exists() {
    let env = Env::new(&[(
        "echo.yaml",
        "dag_id: echo\ntasks:\n  say: {operator: command, bash_command: 'echo {{ run_id }}'}\n",
    )]);
    let pwned = env.dir.path().join("pwned");
    let id = format!("a; touch {} #", pwned.display());
    let out = env
        .cmd(&["trigger", "echo", "--run-id", &id])
        .output()
        .unwrap();
    let text = common::out_text(&out);
    assert!(!out.status.success());
    assert!(
        text.contains("is not allowed") && text.contains("_ . ~ : + -"),
        "{text}"
    );
    assert!(!pwned.exists(), "the injected command ran");
    assert!(env.runs().is_empty(), "a run was created");
    // Airflow's own shapes still pass.
    env.cmd(&[
        "trigger",
        "echo",
        "--run-id",
        "manual__2026-01-01T00:00:00+00:00",
    ])
    .assert()
    .success();
}

/// A `--conf` value lands in `bash_command` as data wherever the template puts it (bare, in
/// double quotes, in single quotes); `| safe` is the way to insert shell code on purpose.
#[test]
fn conf_values_in_a_shell_command_are_data_not_code() {
    let env = Env::new(&[(
        "echo.yaml",
        concat!(
            "dag_id: echo\ntasks:\n  say:\n    operator: command\n    bash_command: >-\n",
            "      cd {{ dag_run.conf.dir }} && echo {{ dag_run.conf.msg }} > bare",
            " && echo \"{{ dag_run.conf.msg }}\" > double && echo '{{ dag_run.conf.msg }}' > single",
            " && {{ dag_run.conf.script | safe }}\n",
        ),
    )]);
    let dir = env.dir.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let msg = "hi; touch pwned1 # ' \" $(touch pwned2) `touch pwned3` \\ $HOME";
    let conf = serde_json::json!({"dir": dir, "msg": msg, "script": "touch meant"}).to_string();
    env.cmd(&["trigger", "echo", "--conf", &conf])
        .assert()
        .success();
    for name in ["bare", "double", "single"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(text, format!("{msg}\n"), "{name}");
    }
    for pwned in ["pwned1", "pwned2", "pwned3"] {
        assert!(!dir.join(pwned).exists(), "{pwned}: the value ran as code");
    }
    assert!(dir.join("meant").exists(), "`| safe` inserts shell code");
}

#[test]
fn variable_names_are_checked_like_connection_names() {
    let env = Env::new(&[]);
    for bad in ["", "a\nb", "\u{1b}[31mred", "with space"] {
        let out = env.cmd(&["variables", "set", bad, "v"]).output().unwrap();
        assert!(!out.status.success(), "{bad:?} was accepted");
        assert!(common::out_text(&out).contains("is not a Variable name"));
    }
    env.cmd(&["variables", "set", "drift_from", "2026-01-20"])
        .assert()
        .success();
    let env = Env::new(&[(
        "v.yaml",
        "dag_id: v\ntasks:\n  s: {operator: set_variable, key: 'bad key', value: x}\n",
    )]);
    let out = env.cmd(&["validate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(common::out_text(&out).contains("is not a Variable name"));
}

/// One 1 MiB string aliased 5,000 times (5 GiB expanded) in a DAG file and in a suite: refused
/// at the alias that crosses the budget, with its location, in bounded memory.
#[test]
fn an_alias_bomb_is_refused_where_it_explodes_in_bounded_memory() {
    let big = "x".repeat(1 << 20);
    let copies: String = (0..5_000).map(|_| "  - *s\n").collect();
    let env = Env::new(&[
        (
            "bomb.yaml",
            &format!(
                "dag_id: bomb\nbig: &s \"{big}\"\ncopies:\n{copies}tasks:\n  t: {{operator: noop}}\n"
            ),
        ),
        (
            "q.yaml",
            "dag_id: q\ntasks:\n  v: {operator: validate_data, suite: suite.yaml}\n",
        ),
        (
            "suite.yaml",
            &format!("columns: {{}}\nbig: &s \"{big}\"\ncopies:\n{copies}"),
        ),
    ]);
    let out = env.cmd(&["validate"]).output().unwrap();
    let text = common::out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("bomb.yaml:66:5") && text.contains("bytes of text after expanding aliases"),
        "{text}"
    );
    assert!(
        text.contains("suite.yaml:66:5") && text.contains("is this a YAML bomb"),
        "{text}"
    );
    // Every child this test binary waited for stayed far below the 5 GiB the file expands to.
    let peak_kib = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .unwrap()
        .max_rss();
    assert!(peak_kib < 1 << 20, "peak RSS {peak_kib} KiB");
}

#[test]
fn a_cron_that_never_fires_fails_validation_with_its_location() {
    let env = Env::new(&[(
        "feb.yaml",
        "dag_id: feb\nschedule: '0 0 31 2 *'\nstart_date: 2026-01-01\ntasks:\n  t: {operator: noop}\n",
    )]);
    let out = env.cmd(&["validate"]).output().unwrap();
    let text = common::out_text(&out);
    assert!(!out.status.success());
    assert!(
        text.contains("feb.yaml:2") && text.contains("never fires"),
        "{text}"
    );
}

#[test]
fn a_suite_range_nothing_can_be_in_fails_validation() {
    let env = Env::new(&[
        (
            "q.yaml",
            "dag_id: q\ntasks:\n  v: {operator: validate_data, suite: suite.yaml}\n",
        ),
        (
            "suite.yaml",
            "columns:\n  age: {type: int64, min: 100, max: 18}\n",
        ),
    ]);
    let out = env.cmd(&["validate"]).output().unwrap();
    let text = common::out_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("column `age`") && text.contains("min 100 is above max 18"),
        "{text}"
    );
}

#[test]
fn a_backfill_longer_than_the_limit_is_refused_not_cut() {
    let env = Env::new(&[(
        "h.yaml",
        "dag_id: h\nschedule: '@hourly'\nstart_date: 2000-01-01\ntasks:\n  t: {operator: noop}\n",
    )]);
    let out = env
        .cmd(&[
            "backfill",
            "h",
            "--start",
            "2000-01-01",
            "--end",
            "2020-01-01",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let text = common::out_text(&out);
    assert!(!out.status.success());
    assert!(text.contains("more than 100000 data intervals"), "{text}");
}

/// A store that cannot be used says why at once, not "pool timed out" after 30 s: a port
/// nobody listens on, a file that is not a database, a folder that cannot be made.
#[test]
fn an_unusable_store_says_why_at_once() {
    let env = Env::new(&[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let not_a_db = env.dir.path().join("notes.txt");
    std::fs::write(
        &not_a_db,
        "these are not the tables you are looking for\n".repeat(200),
    )
    .unwrap();
    let blocked = env.dir.path().join("file");
    std::fs::write(&blocked, "x").unwrap();
    for (url, says) in [
        (
            format!("postgres://u:s3cret@127.0.0.1:{port}/db"),
            "is PostgreSQL running there",
        ),
        (format!("sqlite://{}", not_a_db.display()), "not a database"),
        (
            format!("sqlite://{}/sub/dagctl.db", blocked.display()),
            "cannot create the folder",
        ),
    ] {
        let out = env
            .process(&["runs", "list"])
            .env("DAGCTL_STORE_URL", &url)
            .output()
            .unwrap();
        let text = common::out_text(&out);
        assert!(!out.status.success(), "{url}");
        assert!(
            text.contains("cannot open the state store") && text.contains(says),
            "{url}: {text}"
        );
        assert!(
            !text.contains("pool timed out") && !text.contains("s3cret"),
            "{text}"
        );
    }
    let kept = std::fs::read_to_string(&not_a_db).unwrap();
    assert!(kept.starts_with("these are not"), "the file was changed");
}

/// `models predict` refuses an output that is not a regular file (it replaced `/dev/full` by
/// a file before), replaces the outputs of rows scored before instead of doubling them, and
/// fails on rows it cannot score (a null timestamp) instead of writing NaN.
#[test]
fn predict_refuses_devices_and_unusable_rows_and_rescores_cleanly() {
    use std::os::unix::fs::FileTypeExt;
    let env = Env::shipped();
    env.cmd(&[
        "trigger",
        "01_data_generation_pipeline",
        "--logical-date",
        "2026-01-05",
    ])
    .assert()
    .success();
    let day = env
        .home()
        .join("data/raw_data/year=2026/month=01/day=05/part-00000.parquet");
    let once = env.dir.path().join("once.parquet");
    let twice = env.dir.path().join("twice.parquet");
    let predict = |input: &std::path::Path, output: &std::path::Path| {
        env.process(&[
            "models",
            "predict",
            "churn_model",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ])
        .output()
        .unwrap()
    };
    assert!(predict(&day, &once).status.success());
    let out = predict(&once, &twice);
    assert!(out.status.success(), "{}", common::out_text(&out));
    let schema = |p: &std::path::Path| -> Vec<String> {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(p).unwrap(),
        )
        .unwrap()
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
    };
    assert_eq!(schema(&once), schema(&twice), "outputs replaced, not added");
    assert_eq!(
        schema(&twice).iter().filter(|n| *n == "prediction").count(),
        1
    );
    for device in ["/dev/full", "/dev/null"] {
        if !std::path::Path::new(device).exists() {
            continue;
        }
        let out = predict(&day, std::path::Path::new(device));
        let text = common::out_text(&out);
        assert!(!out.status.success(), "{device}: {text}");
        assert!(text.contains("is not a regular file"), "{text}");
        let meta = std::fs::metadata(device).unwrap();
        assert!(meta.file_type().is_char_device(), "{device} was replaced");
    }
    // The same day with every event timestamp null: refused, naming the feature, no file.
    let batch = {
        use arrow::array::{Array, new_null_array};
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&day).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        let batches: Vec<_> = reader.map(Result::unwrap).collect();
        let b = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let schema = b.schema();
        let fields: Vec<arrow::datatypes::Field> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let columns: Vec<std::sync::Arc<dyn Array>> = schema
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| {
                if f.name() == "event_timestamp" {
                    new_null_array(f.data_type(), c.len())
                } else {
                    std::sync::Arc::clone(c)
                }
            })
            .collect();
        arrow::array::RecordBatch::try_new(
            std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
            columns,
        )
        .unwrap()
    };
    let nulls = env.dir.path().join("null_times.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&nulls).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let scored = env.dir.path().join("null_scored.parquet");
    let out = predict(&nulls, &scored);
    let text = common::out_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("rows cannot be scored"), "{text}");
    assert!(!scored.exists(), "nothing is written");
}
