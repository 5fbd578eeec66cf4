use super::*;
use chrono::TimeZone;
use serde_json::json;

fn render(template: &str) -> Result<String, TemplateError> {
    let params = json!({"n": 3, "name": "x"}).as_object().cloned().unwrap();
    let conf = json!({"force": true});
    let vars = BTreeMap::from([
        ("latest".to_string(), "prepared_data/2026-01-02".to_string()),
        ("cfg".to_string(), r#"{"depth": 4}"#.to_string()),
    ]);
    let xcoms = vec![
        ("a".to_string(), "return_value".to_string(), json!(42)),
        ("a".to_string(), "rows".to_string(), json!([1, 2])),
        ("b".to_string(), "return_value".to_string(), json!("bee")),
    ];
    let d = RunData {
        dag_id: "dag1",
        run_id: "manual__x",
        run_type: "manual",
        task_id: "t",
        try_number: 2,
        logical_date: Utc.with_ymd_and_hms(2026, 1, 31, 6, 30, 0).unwrap(),
        data_interval_start: Utc.with_ymd_and_hms(2026, 1, 31, 6, 30, 0).unwrap(),
        data_interval_end: Utc.with_ymd_and_hms(2026, 2, 1, 6, 30, 0).unwrap(),
        params: &params,
        conf: &conf,
        variables: &vars,
        xcoms: &xcoms,
        previous_success: None,
        connections: &[crate::store::Connection {
            name: "wh".into(),
            url: "postgres://ana@db:5433/sales".into(),
            extra: Default::default(),
        }],
        inlets: &[],
        outlets: &["s3://b/out".to_string()],
    };
    let r = Renderer::new();
    let ctx = r.context(&d);
    r.render_args(&json!({"x": template}), &ctx, &[])
        .map(|v| v["x"].as_str().unwrap().to_string())
}

#[test]
fn every_context_key_renders() {
    let cases = [
        ("{{ ds }}", "2026-01-31"),
        ("{{ ds_nodash }}", "20260131"),
        ("{{ ts }}", "2026-01-31T06:30:00+00:00"),
        ("{{ ts_nodash }}", "20260131T063000"),
        // pendulum date-times print with a space, as in Airflow 3.
        ("{{ logical_date }}", "2026-01-31 06:30:00+00:00"),
        ("{{ data_interval_start }}", "2026-01-31 06:30:00+00:00"),
        ("{{ data_interval_end }}", "2026-02-01 06:30:00+00:00"),
        (
            "{{ (data_interval_end - macros.timedelta(hours=6)) | ds }}",
            "2026-02-01",
        ),
        ("{{ outlets }}", "['s3://b/out']"),
        (
            "{{ data_interval_end - data_interval_start == macros.timedelta(days=1) }}",
            "True",
        ),
        (
            "{{ macros.datetime.strptime('2026030510', '%Y%m%d%H') }} {{ logical_date.replace(tzinfo=None) }}",
            "2026-03-05 10:00:00 2026-01-31 06:30:00",
        ),
        (
            "{{ logical_date.add(months=1, days=3).diff_for_humans(logical_date) }}",
            "1 month after",
        ),
        ("{{ prev_start_date_success | ds }}", "None"),
        (
            "{{ (logical_date + macros.dateutil.relativedelta.relativedelta(months=-1, day=1)) | ds }} {{ macros.dateutil.relativedelta.relativedelta(months=-1, day=1) }}",
            "2025-12-01 relativedelta(months=-1, day=1)",
        ),
        (
            "{{ (logical_date - macros.dateutil.relativedelta.relativedelta(months=1, day=31)) | ds }}",
            "2025-12-31",
        ),
        ("{{ logical_date.format('d E') }}", "6 6"),
        (
            "{{ conn.wh.host }}:{{ conn.wh.port }}/{{ conn.wh.schema }} {{ conn.wh.login }}",
            "db:5433/sales ana",
        ),
        (
            "{{ dag_run.run_type }} {{ dag_run.run_type == 'manual' }}",
            "DagRunType.MANUAL True",
        ),
        (
            "{{ ti.map_index }} {{ task_instance_key_str }}",
            "-1 dag1__t__20260131",
        ),
        ("{{ params.n * 2 }}", "6"),
        // As Jinja2 renders Python booleans in Airflow.
        ("{{ dag_run.conf.force }}", "True"),
        ("{{ dag_run.run_id }}", "manual__x"),
        ("{{ run_id }}", "manual__x"),
        (
            "{{ dag.dag_id }}/{{ task.task_id }}/{{ ti.try_number }}",
            "dag1/t/2",
        ),
        ("{{ var.value.latest }}", "prepared_data/2026-01-02"),
        ("{{ var.json.cfg.depth }}", "4"),
        ("{{ ti.xcom_pull(task_ids='a') }}", "42"),
        ("{{ ti.xcom_pull(task_ids='a', key='rows') | length }}", "2"),
        ("{{ ti.xcom_pull('b') }}", "bee"),
        (
            "{{ ti.xcom_pull('zz', default='d') }} {{ ti.xcom_pull('zz', map_indexes=0, default='d') }}",
            "None d",
        ),
        (
            "{{ 'a b  c '.split(maxsplit=1) }} {{ ' a b c'.rsplit(None, 1) }} {{ 'x,y,z'.split(',', maxsplit=1) }}",
            "['a', 'b  c '] [' a b', 'c'] ['x', 'y,z']",
        ),
        (
            "{{ ti.xcom_pull(task_ids=['a', 'b']) | join(',') }}",
            "42,bee",
        ),
        ("{{ macros.ds_add(ds, 1) }}", "2026-02-01"),
        ("{{ macros.ds_add(ds, -31) }}", "2025-12-31"),
        (
            "{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}",
            "31/01/2026",
        ),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
    ];
    for (template, want) in cases {
        assert_eq!(render(template).unwrap(), want, "{template}");
    }
}

#[test]
fn undefined_names_are_named() {
    let e = render("echo {{ var.value.missing }}").unwrap_err();
    assert_eq!(e.undefined.as_deref(), Some("var.value.missing"));
    assert_eq!(e.argument, "x");
    assert_eq!(e.line, Some(1));
    assert!(
        e.to_string().contains("`var.value.missing` is undefined"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("template: echo {{ var.value.missing }}"),
        "{e}"
    );
    let e = render("a\nb {{ nope }}").unwrap_err();
    assert_eq!((e.undefined.as_deref(), e.line), (Some("nope"), Some(2)));
    let e = render("{{ params.nope }}").unwrap_err();
    assert_eq!(e.undefined.as_deref(), Some("params.nope"));
    // A method called on a date-time is not what is undefined.
    let e = render("{{ logical_date.in_timezone('UTC').hour }} {{ params.missing }}").unwrap_err();
    assert_eq!(e.undefined.as_deref(), Some("params.missing"));
}

#[test]
fn sandbox_has_no_file_access_and_bounded_work() {
    assert!(render("{% include '/etc/passwd' %}").is_err());
    assert!(render("{% import 'x.j2' as x %}").is_err());
    assert!(
        render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
            .is_err()
    );
    assert!(
        render("{{ macros.ds_add('soon', 1) }}")
            .unwrap_err()
            .message
            .contains("not a date")
    );
    // Absurd values are errors, never panics.
    for (t, why) in [
        (
            "{{ macros.ds_add(ds, 9223372036854775807) }}",
            "years 1 to 9999",
        ),
        (
            "{{ macros.ds_add(ds, -9223372036854775807) }}",
            "years 1 to 9999",
        ),
        ("{{ macros.ds_add(ds, 3000000) }}", "years 1 to 9999"),
        (
            "{{ macros.ds_format(ds, '%Y-%m-%d', '%Q%!') }}",
            "not a date format",
        ),
    ] {
        let e = render(t).unwrap_err();
        assert!(e.message.contains(why), "{t}: {}", e.message);
    }
}

/// Values at the edges of what dates, widths and numbers hold are errors, never panics,
/// overflows or allocations that end the process (found by review).
#[test]
fn hostile_templates_are_errors_not_panics() {
    for t in [
        "{{ '10' | int(base=37) }}",
        "{{ logical_date.isoformat('%Q') }}",
        "{{ logical_date.add(years=1e30) }}",
        "{{ logical_date.add(weeks=1e30) }}",
        "{{ logical_date.subtract(months=-9223372036854775808) }}",
        "{{ macros.dateutil.relativedelta.relativedelta(years=1e18) }}",
        "{{ logical_date.date().replace(year=9999) - logical_date.date().replace(year=1) }}",
        "{{ logical_date.replace(year=1, month=1, day=1).start_of('week') }}",
        "{{ logical_date.replace(year=10000) }}",
        "{{ logical_date.replace(year=9999, month=12, day=31, hour=23).in_timezone('Asia/Tokyo').add(days=1) }}",
        "{{ macros.datetime(0, 1, 1) }}",
        "{{ 'x'.zfill(10**15) }}",
        "{{ 'x'.center(10**15) }}",
        "{{ '%1000000000000000s' % 'x' }}",
        "{{ '%.70000f' % 1 }}",
        "{{ macros.json.dumps([1], indent=10**15) }}",
    ] {
        match render(t) {
            Ok(out) => assert!(out.len() < 1_000_000, "{t}: {} bytes", out.len()),
            // A panic caught by the renderer is a bug all the same.
            Err(e) => assert!(!e.message.contains("internal error"), "{t}: {e}"),
        }
    }
    assert_eq!(render("{{ '0x1f' | int(base=0) }}").unwrap(), "31");
    assert_eq!(render("{{ 'x'.rjust(-3) }}").unwrap(), "x");
}

#[test]
fn needs_finds_what_to_load() {
    let n = needs(&json!({"a": ["{{ var.value.x }}"], "b": "plain"}));
    assert_eq!(
        n,
        Needs {
            any: true,
            variables: true,
            xcom: false,
            previous: false,
            connections: false,
        }
    );
    assert_eq!(needs(&json!({"a": "plain", "n": 1})), Needs::default());
}
