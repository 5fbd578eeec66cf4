-- Dataset events: a task with `outlets` succeeded. `seq` orders events recorded in the same
-- microsecond; `(dataset, created_at)` is how the scheduler reads them.
CREATE TABLE dataset_events (
    dataset TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    PRIMARY KEY (dataset, created_at, seq, dag_id, run_id, task_id)
);
