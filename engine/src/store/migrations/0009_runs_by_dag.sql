-- A DAG's newest runs (the grid of the web view, `runs list --dag`) read from an index instead
-- of sorting every run of the store: fast at 100,000 runs and more.
CREATE INDEX dag_runs_by_dag_created ON dag_runs (dag_id, created_at, run_id);
CREATE INDEX dag_runs_by_created ON dag_runs (created_at, run_id);
