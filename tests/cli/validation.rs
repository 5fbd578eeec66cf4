//! Every validation error, with its exact location and hint, through the library API.

use std::path::Path;

use dagctl::engine::spec::{self, FileLoad};
use dagctl::engine::{Kind, Pools, Schedule, TriggerRule};

fn load_with(text: &str, pools: &Pools) -> FileLoad {
    let registry = dagctl::shipped_operators();
    spec::load_str(text, Path::new("t.yaml"), pools.env(&registry))
}

fn load(text: &str) -> FileLoad {
    load_with(text, &Pools::default())
}

/// Asserts that `text` yields exactly these errors, in order:
/// (line, column, kind, part of the message, part of the hint or "" for no hint check).
#[track_caller]
fn expect_errors(text: &str, want: &[(u32, u32, Kind, &str, &str)]) {
    let load = load(text);
    let errors: Vec<_> = load.diagnostics.iter().filter(|d| d.is_error()).collect();
    let shown = load.diagnostics.to_string();
    assert_eq!(errors.len(), want.len(), "got:\n{shown}");
    for (d, (line, col, kind, msg, hint)) in errors.iter().zip(want) {
        assert_eq!(
            (d.pos.line, d.pos.column),
            (*line, *col),
            "position of: {d}"
        );
        assert_eq!(d.kind, *kind, "kind of: {d}");
        assert!(d.message.contains(msg), "message of: {d}\nwant: {msg}");
        if !hint.is_empty() {
            let h = d.hint.as_deref().unwrap_or_default();
            assert!(h.contains(hint), "hint of: {d}\nwant: {hint}");
        }
        assert_eq!(d.file, Path::new("t.yaml"));
    }
    assert!(load.dags.is_empty(), "a DAG with errors must not load");
}

#[test]
fn yaml_syntax_error_is_located() {
    expect_errors(
        "dag_id: s\ntasks:\n  a: {operator: noop\n  b: x\n",
        &[(
            4,
            4,
            Kind::YamlSyntax,
            "did not find expected ','",
            "YAML syntax",
        )],
    );
}

#[test]
fn unknown_keys_suggest_the_closest() {
    expect_errors(
        "dag_id: d\nschedul: '@daily'\ndefault_args:\n  retires: 3\ntasks:\n  a: {operator: noop}\n",
        &[
            (
                2,
                1,
                Kind::UnknownKey,
                "unknown key `schedul` in DAG `d`",
                "did you mean `schedule`?",
            ),
            (
                4,
                3,
                Kind::UnknownKey,
                "unknown key `retires` in `default_args`",
                "did you mean `retries`?",
            ),
        ],
    );
}

#[test]
fn wrong_types_name_the_value() {
    expect_errors(
        "dag_id: d\ncatchup: maybe\nmax_active_runs: 0\ntasks:\n  a:\n    operator: noop\n    retries: many\n",
        &[
            (
                2,
                10,
                Kind::InvalidValue,
                "`catchup` must be true or false, found a string `maybe`",
                "",
            ),
            (
                3,
                18,
                Kind::InvalidValue,
                "`max_active_runs` must be at least 1",
                "",
            ),
            (
                7,
                14,
                Kind::InvalidValue,
                "`retries` must be a whole number ≥ 0, found a string `many`",
                "",
            ),
        ],
    );
}

#[test]
fn bad_durations() {
    expect_errors(
        "dag_id: d\ndefault_args:\n  retry_delay: soon\n  execution_timeout: 5y\ntasks:\n  a: {operator: noop}\n",
        &[
            (
                3,
                16,
                Kind::InvalidDuration,
                "bad duration `soon` for `retry_delay`",
                "`1h30m`",
            ),
            (4, 22, Kind::InvalidDuration, "unknown unit `y`", "`30s`"),
        ],
    );
    // A delay no calendar holds is refused where it is written (it used to pass, then panic
    // at the first failure and leave the run `running`).
    expect_errors(
        "dag_id: d\ndefault_args:\n  retries: 1\n  retry_delay: 1e14\ntasks:\n  a: {operator: noop}\n",
        &[(
            4,
            16,
            Kind::InvalidDuration,
            "past the longest duration dagctl accepts (100 years",
            "",
        )],
    );
}

#[test]
fn cycles_are_named_as_paths() {
    expect_errors(
        "dag_id: d\ntasks:\n  a:\n    operator: noop\n    dependencies: [c]\n  b:\n    operator: noop\n    dependencies: [a]\n  c:\n    operator: noop\n    dependencies: [b]\n  s:\n    operator: noop\n    dependencies: [s]\n",
        &[
            (
                5,
                20,
                Kind::Cycle,
                "dependency cycle in DAG `d`: a -> b -> c -> a",
                "`a` depending on `c`",
            ),
            (
                14,
                20,
                Kind::Cycle,
                "dependency cycle in DAG `d`: s -> s",
                "",
            ),
        ],
    );
}

#[test]
fn unknown_operator_lists_the_known_ones() {
    expect_errors(
        "dag_id: d\ntasks:\n  a: {operator: comand}\n  b: {operator: frobnicate}\n",
        &[
            (
                3,
                17,
                Kind::UnknownOperator,
                "unknown operator `comand`",
                "did you mean `command`? known operators: `branch`, `check_performance`, `command`, `detect_drift`, ",
            ),
            (
                4,
                17,
                Kind::UnknownOperator,
                "unknown operator `frobnicate`",
                "known operators: `branch`, `check_performance`, `command`, ",
            ),
        ],
    );
}

#[test]
fn unknown_dependency_names_the_closest_task() {
    expect_errors(
        "dag_id: d\ntasks:\n  extract_data: {operator: noop}\n  load:\n    operator: noop\n    dependencies: [extract_dta]\n",
        &[(
            6,
            20,
            Kind::UnknownDependency,
            "task `load` depends on `extract_dta`, which is not a task or task group of DAG `d`",
            "did you mean `extract_data`?",
        )],
    );
}

#[test]
fn duplicate_task_ids_in_both_forms() {
    expect_errors(
        "dag_id: d\ntasks:\n  a: {operator: noop}\n  a: {operator: noop}\n",
        &[(
            4,
            3,
            Kind::DuplicateTask,
            "task id `a` is defined twice in DAG `d`",
            "first defined at line 3",
        )],
    );
    expect_errors(
        "dag_id: d\ntasks:\n  - task_id: a\n    operator: noop\n  - task_id: a\n    operator: noop\n",
        &[(
            5,
            14,
            Kind::DuplicateTask,
            "task id `a` is defined twice",
            "line 3",
        )],
    );
}

#[test]
fn bad_cron_and_presets() {
    expect_errors(
        "dag_id: d\nschedule: '0 3 * *'\ntasks:\n  a: {operator: noop}\n",
        &[(2, 11, Kind::InvalidSchedule, "has 4 fields", "5-field cron")],
    );
    expect_errors(
        "dag_id: d\nschedule: '@dayly'\ntasks:\n  a: {operator: noop}\n",
        &[(
            2,
            11,
            Kind::InvalidSchedule,
            "unknown schedule preset `@dayly`",
            "@daily",
        )],
    );
    expect_errors(
        "dag_id: d\nschedule: 61 * * * *\ntasks:\n  a: {operator: noop}\n",
        &[(
            2,
            11,
            Kind::InvalidSchedule,
            "bad cron expression `61 * * * *`",
            "",
        )],
    );
}

#[test]
fn start_date_after_end_date() {
    expect_errors(
        "dag_id: d\nstart_date: 2026-02-01\nend_date: 2026-01-01\ntasks:\n  a: {operator: noop}\n",
        &[(
            3,
            11,
            Kind::DateOrder,
            "`end_date` 2026-01-01 00:00:00 UTC is before `start_date`",
            "swap",
        )],
    );
    expect_errors(
        "dag_id: d\nstart_date: yesterday\ntasks:\n  a: {operator: noop}\n",
        &[(
            2,
            13,
            Kind::InvalidDate,
            "bad date `yesterday`",
            "2026-01-31",
        )],
    );
}

#[test]
fn operator_arguments_are_checked_by_the_operator() {
    expect_errors(
        "dag_id: d\ntasks:\n  a:\n    operator: command\n    bash_comand: echo\n  b:\n    operator: command\n  c:\n    operator: command\n    program: ls\n    args: {x: 1}\n  e:\n    operator: noop\n    foo: 1\n",
        &[
            (
                5,
                5,
                Kind::OperatorArgs,
                "unknown argument `bash_comand` for operator `command` in task `a`",
                "did you mean `bash_command`?",
            ),
            (
                7,
                15,
                Kind::OperatorArgs,
                "operator `command` in task `b` is missing its argument `program` or `bash_command`",
                "add",
            ),
            (
                11,
                11,
                Kind::OperatorArgs,
                "argument `args` of operator `command` in task `c`: expected a sequence",
                "",
            ),
            (
                14,
                5,
                Kind::OperatorArgs,
                "unknown argument `foo` for operator `noop`",
                "operator `noop` takes no arguments",
            ),
        ],
    );
}

#[test]
fn trigger_rules_and_pools() {
    expect_errors(
        "dag_id: d\ntasks:\n  a:\n    operator: noop\n    trigger_rule: all_sucess\n    pool: gpu\n",
        &[
            (
                5,
                19,
                Kind::UnknownTriggerRule,
                "unknown trigger rule `all_sucess`",
                "did you mean `all_success`?",
            ),
            (
                6,
                11,
                Kind::UnknownPool,
                "pool `gpu` does not exist",
                "pools.yaml",
            ),
        ],
    );
    let (pools, diags) = Pools::load_str("pools:\n  gpu: 2\n", Path::new("pools.yaml"));
    assert!(diags.is_empty());
    let load = load_with(
        "dag_id: d\ntasks:\n  a: {operator: noop, pool: gpu}\n",
        &pools,
    );
    assert!(load.diagnostics.is_empty(), "{}", load.diagnostics);
    assert_eq!(load.dags[0].tasks()[0].policy.pool, "gpu");
}

#[test]
fn invalid_ids() {
    expect_errors(
        "dag_id: 'my dag'\ntasks:\n  'a b': {operator: noop}\n",
        &[
            (
                1,
                9,
                Kind::InvalidId,
                "invalid DAG id `my dag`",
                "letters, digits",
            ),
            (3, 3, Kind::InvalidId, "invalid task id `a b`", ""),
        ],
    );
}

#[test]
fn python_and_unsupported_airflow_operators() {
    expect_errors(
        "dag_id: d\ntasks:\n  a:\n    operator: airflow.operators.python.PythonVirtualenvOperator\n    python_callable_name: f\n  b:\n    operator: airflow.providers.postgres.operators.postgres.PostgresOperator\n",
        &[
            (
                4,
                15,
                Kind::Unsupported,
                "runs Python callables",
                "`command` task",
            ),
            (
                5,
                5,
                Kind::Unsupported,
                "`python_callable_name` in task `a`",
                "bash_command: python3",
            ),
            (
                7,
                15,
                Kind::Unsupported,
                "Airflow operator `airflow.providers.postgres.operators.postgres.PostgresOperator` is not supported here",
                "use one of the dagctl operators: `branch`, `check_performance`, `command`",
            ),
        ],
    );
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let load = load(
        "dag_id: d\nschedule: nope\ndefault_args: {retires: 1}\ntasks:\n  a: {operator: x}\n  b: {operator: noop, dependencies: [zz]}\n",
    );
    let kinds: Vec<Kind> = load.diagnostics.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::InvalidSchedule,
            Kind::UnknownKey,
            Kind::UnknownOperator,
            Kind::UnknownDependency
        ]
    );
}

#[test]
fn yaml_bombs_are_refused() {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        text.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 10].join(", ")
        ));
    }
    let load = load(&text);
    let d = load.diagnostics.iter().next().expect("refused");
    assert_eq!(d.kind, Kind::YamlBudget);
    assert!(d.message.contains("budget breached"));
}

#[test]
fn single_dag_form_reads_every_key() {
    let load = load(
        "dag_id: full\ndescription: all keys\nschedule: '*/15 9-17 * * MON-FRI'\nstart_date: 2026-01-01T06:00:00\nend_date: 2026-12-31\ncatchup: true\nmax_active_runs: 2\nmax_active_tasks: 4\ntags: [a, b]\nparams:\n  n: 3\n  window: {default: 7, description: days}\ndefault_args:\n  owner: me\n  retries: 2\n  retry_delay: 1h30m\n  retry_exponential_backoff: true\n  max_retry_delay: 2d\n  execution_timeout: 90\n  trigger_rule: all_done\ntasks:\n  a: {operator: noop}\n  b:\n    operator: noop\n    dependencies: a\n    retries: 0\n    trigger_rule: one_failed\n",
    );
    assert!(load.diagnostics.is_empty(), "{}", load.diagnostics);
    let dag = &load.dags[0];
    assert_eq!(dag.description(), Some("all keys"));
    assert!(matches!(dag.schedule(), Schedule::Cron(_)));
    assert_eq!(
        dag.start_date().unwrap().to_rfc3339(),
        "2026-01-01T06:00:00+00:00"
    );
    assert!(dag.catchup());
    assert_eq!((dag.max_active_runs(), dag.max_active_tasks()), (2, 4));
    assert_eq!(dag.tags(), ["a", "b"]);
    assert_eq!(dag.params()["n"], 3);
    assert_eq!(dag.params()["window"], 7);
    let a = dag.task("a").unwrap();
    assert_eq!(a.policy.owner, "me");
    assert_eq!(a.policy.retries, 2);
    assert_eq!(a.policy.retry_delay.as_secs(), 5400);
    assert!(a.policy.retry_exponential_backoff);
    assert_eq!(a.policy.max_retry_delay.unwrap().as_secs(), 172_800);
    assert_eq!(a.policy.execution_timeout.unwrap().as_secs(), 90);
    assert_eq!(a.policy.trigger_rule, TriggerRule::AllDone);
    let b = dag.task("b").unwrap();
    assert_eq!(b.upstream, ["a"]);
    assert_eq!(b.policy.retries, 0, "task keys override default_args");
    assert_eq!(b.policy.trigger_rule, TriggerRule::OneFailed);
    assert_eq!(b.policy.owner, "me", "other default_args keys are kept");
}

#[test]
fn dag_factory_form_loads_unchanged() {
    let text = std::fs::read_to_string("examples/dags/dag_factory_example.yaml").unwrap();
    let load = load(&text);
    assert_eq!(load.diagnostics.error_count(), 0, "{}", load.diagnostics);
    assert_eq!(
        load.diagnostics.warning_count(),
        0,
        "default_view is a UI setting: accepted"
    );
    let ids: Vec<&str> = load.dags.iter().map(|d| d.id()).collect();
    assert_eq!(ids, ["example_dag_factory", "second_dag"]);

    let dag = &load.dags[0];
    assert_eq!(
        dag.schedule().to_string(),
        "0 3 * * *",
        "schedule_interval from `default`"
    );
    assert_eq!(
        dag.start_date().unwrap().to_rfc3339(),
        "2026-01-01T00:00:00+00:00"
    );
    let load_task = dag.task("load").unwrap();
    assert_eq!(
        load_task.operator, "command",
        "BashOperator maps onto command"
    );
    assert_eq!(load_task.args["bash_command"], "echo load");
    assert_eq!(
        load_task.policy.retries, 3,
        "the DAG's default_args override the file's"
    );
    assert_eq!(
        load_task.policy.owner, "analytics",
        "and keep the file's other keys"
    );
    assert_eq!(
        load_task.policy.retry_delay.as_secs(),
        300,
        "retry_delay_sec"
    );
    // Group dependencies: transform depends on extract, load on transform; tasks in groups
    // have Airflow's ids (`group.task`).
    assert_eq!(
        dag.task("transform.join").unwrap().upstream,
        ["extract.pull_orders", "extract.pull_users"]
    );
    assert_eq!(dag.task("transform.join").unwrap().operator, "noop");
    assert!(dag.task("join").is_none());
    assert_eq!(load_task.upstream, ["transform.join"]);
    let order: Vec<&str> = dag.topological_order().map(|t| t.id.as_str()).collect();
    assert_eq!(
        order,
        [
            "extract.pull_orders",
            "extract.pull_users",
            "transform.join",
            "load"
        ]
    );

    let second = &load.dags[1];
    assert_eq!(
        second.schedule().to_string(),
        "@hourly",
        "own key beats `default`"
    );
    assert_eq!(
        second.task("only").unwrap().operator,
        "noop",
        "DummyOperator"
    );
}

#[test]
fn nested_task_groups_and_unknown_groups() {
    let text = "d:\n  task_groups:\n    outer: {}\n    inner: {parent_group_name: outer}\n    after: {dependencies: [outer]}\n  tasks:\n    x: {operator: noop, task_group_name: inner}\n    y: {operator: noop, task_group_name: after}\n    z: {operator: noop, dependencies: [outer]}\n";
    let load = load(text);
    assert!(load.diagnostics.is_empty(), "{}", load.diagnostics);
    let dag = &load.dags[0];
    assert_eq!(
        dag.task("after.y").unwrap().upstream,
        ["outer.inner.x"],
        "a nested group's tasks belong to its parent, and carry both groups' ids"
    );
    assert_eq!(dag.task("z").unwrap().upstream, ["outer.inner.x"]);
    // Without `prefix_group_id`, ids are as written; dependencies may use either form.
    let text = "d:\n  task_groups:\n    g: {prefix_group_id: false}\n    h: {}\n  tasks:\n    x: {operator: noop, task_group_name: g}\n    y: {operator: noop, task_group_name: h, dependencies: [x]}\n    z: {operator: noop, dependencies: [h.y]}\n";
    let unprefixed = self::load(text);
    assert!(
        unprefixed.diagnostics.is_empty(),
        "{}",
        unprefixed.diagnostics
    );
    let dag = &unprefixed.dags[0];
    assert_eq!(dag.task("h.y").unwrap().upstream, ["x"]);
    assert_eq!(dag.task("z").unwrap().upstream, ["h.y"]);
    expect_errors(
        "d:\n  tasks:\n    x: {operator: noop, task_group_name: grp}\n",
        &[(
            3,
            42,
            Kind::UnknownTaskGroup,
            "unknown task group `grp`",
            "defines no `task_groups`",
        )],
    );
}

#[test]
fn merge_keys_share_settings_between_tasks() {
    let load = load(
        "dag_id: d\ntasks:\n  a: &base\n    operator: command\n    bash_command: echo a\n    retries: 4\n  b:\n    <<: *base\n    bash_command: echo b\n",
    );
    assert!(load.diagnostics.is_empty(), "{}", load.diagnostics);
    let b = load.dags[0].task("b").unwrap();
    assert_eq!(b.args["bash_command"], "echo b");
    assert_eq!(b.policy.retries, 4);
}

#[test]
fn several_documents_and_a_forgotten_dag_id() {
    let load = load(
        "dag_id: one\ntasks: {a: {operator: noop}}\n---\ndag_id: two\ntasks: {a: {operator: noop}}\n",
    );
    assert_eq!(load.dags.len(), 2);
    expect_errors(
        "schedule: '@daily'\ntasks:\n  a: {operator: noop}\n",
        &[(1, 1, Kind::MissingKey, "no `dag_id`", "dag_id: <name>")],
    );
}

#[test]
fn other_errors_of_a_dag_do_not_cascade_into_other_dags() {
    let load =
        load("good:\n  tasks: {a: {operator: noop}}\nbad:\n  tasks: {a: {operator: nope}}\n");
    assert_eq!(load.dags.len(), 1);
    assert_eq!(load.dags[0].id(), "good");
    assert_eq!(load.diagnostics.error_count(), 1);
}

#[test]
fn time_zones_are_checked_and_naive_dates_read_in_them() {
    expect_errors(
        "dag_id: d\ntimezone: Europe/Berln\ntasks:\n  a: {operator: noop}\n",
        &[(
            2,
            11,
            Kind::InvalidValue,
            "unknown time zone `Europe/Berln`",
            "did you mean `Europe/Berlin`?",
        )],
    );
    let load = load(
        "dag_id: d\ntimezone: Europe/Paris\nstart_date: 2026-07-01T06:00:00\nschedule: '0 6 * * *'\ntasks:\n  a: {operator: noop}\n",
    );
    assert!(load.diagnostics.is_empty(), "{}", load.diagnostics);
    let dag = &load.dags[0];
    assert_eq!(dag.timezone().name(), "Europe/Paris");
    assert_eq!(
        dag.start_date().unwrap().to_rfc3339(),
        "2026-07-01T04:00:00+00:00",
        "06:00 in Paris in summer"
    );
    let first = dag
        .timetable()
        .next_interval(None, dag.start_date().unwrap())
        .unwrap();
    assert_eq!(
        first.start,
        dag.start_date().unwrap(),
        "06:00 local is a tick"
    );
}
