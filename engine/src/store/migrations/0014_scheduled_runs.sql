-- A DAG's scheduled runs, newest logical date first: where its schedule goes on from, read by
-- every scheduler loop and the web view's next run. Without it the read walked every run of
-- the DAG (a backfill's 100,000) looking for a scheduled one.
CREATE INDEX dag_runs_scheduled_by_dag ON dag_runs (dag_id, logical_date, run_id)
    WHERE run_type = 'scheduled';
