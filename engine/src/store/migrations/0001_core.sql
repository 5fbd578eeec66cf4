-- DAG runs, task instances, every try, try logs, Variables, XCom, pools.
-- Common SQL only (SQLite and PostgreSQL): times are BIGINT microseconds since the epoch (UTC),
-- JSON is TEXT, ids are given by dagctl (no auto-increment).

CREATE TABLE dag_runs (
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    run_type TEXT NOT NULL,
    logical_date BIGINT NOT NULL,
    data_interval_start BIGINT NOT NULL,
    data_interval_end BIGINT NOT NULL,
    conf TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    start_date BIGINT,
    end_date BIGINT,
    PRIMARY KEY (dag_id, run_id)
);
CREATE INDEX dag_runs_by_state ON dag_runs (state);
CREATE INDEX dag_runs_by_run_id ON dag_runs (run_id);

CREATE TABLE task_instances (
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    state TEXT NOT NULL,
    try_number BIGINT NOT NULL,
    max_tries BIGINT NOT NULL,
    pool TEXT NOT NULL,
    pool_slots BIGINT NOT NULL,
    next_attempt_at BIGINT,
    start_date BIGINT,
    end_date BIGINT,
    PRIMARY KEY (dag_id, run_id, task_id)
);
CREATE INDEX task_instances_by_state ON task_instances (state);

CREATE TABLE task_tries (
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    try_number BIGINT NOT NULL,
    state TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    lease_until BIGINT,
    start_date BIGINT NOT NULL,
    end_date BIGINT,
    duration_us BIGINT,
    error TEXT,
    PRIMARY KEY (dag_id, run_id, task_id, try_number)
);
CREATE INDEX task_tries_by_state ON task_tries (state);

CREATE TABLE task_logs (
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    try_number BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, try_number, seq)
);

CREATE TABLE variables (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE xcom (
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, key)
);

CREATE TABLE pools (
    name TEXT PRIMARY KEY,
    slots BIGINT NOT NULL,
    description TEXT
);
