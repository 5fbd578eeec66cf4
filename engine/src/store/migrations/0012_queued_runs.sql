-- The queued runs in the order they start (oldest logical date first), all DAGs or one: a
-- driver's turn reads the next ones from these, however many runs wait (a backfill queues
-- one per interval). Only queued rows are indexed.
CREATE INDEX dag_runs_queued ON dag_runs (logical_date, created_at, run_id)
    WHERE state = 'queued';
CREATE INDEX dag_runs_queued_by_dag ON dag_runs (dag_id, logical_date, created_at, run_id)
    WHERE state = 'queued';
-- A DAG's running runs: counted when a run is acquired (`max_active_runs`) and read by every
-- turn; without it the count read every run of the DAG, a backfill's turns growing with it.
CREATE INDEX dag_runs_running ON dag_runs (dag_id) WHERE state = 'running';
