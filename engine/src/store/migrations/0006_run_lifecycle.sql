-- The run lifecycle. `owner` is the worker driving a run, until `owner_until` (its lease):
-- every write of that driver checks it still owns the run, in the same transaction, so a
-- run cancelled, marked or taken over after a crash cannot be written by a stale driver.
-- `parent_*` is the run that caused this one (trigger_dag, a dataset event).
ALTER TABLE dag_runs ADD COLUMN owner TEXT;
ALTER TABLE dag_runs ADD COLUMN owner_until BIGINT;
ALTER TABLE dag_runs ADD COLUMN parent_dag_id TEXT;
ALTER TABLE dag_runs ADD COLUMN parent_run_id TEXT;
CREATE INDEX dag_runs_by_parent ON dag_runs (parent_dag_id, parent_run_id);
-- DAGs seen by an engine: whether paused, and since when they are known (dataset events
-- older than that never start a run of them).
CREATE TABLE dags (
    dag_id TEXT PRIMARY KEY,
    paused BIGINT NOT NULL,
    first_seen BIGINT NOT NULL
);
-- Which dataset event started which run: each event starts at most one run of each DAG.
CREATE TABLE dataset_consumptions (
    consumer_dag_id TEXT NOT NULL,
    dataset TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    consumer_run_id TEXT NOT NULL,
    PRIMARY KEY (consumer_dag_id, dataset, created_at, seq, dag_id, run_id, task_id)
);
