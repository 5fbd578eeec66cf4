-- What the scheduler reads of a DAG each loop (its newest scheduled interval, the runs from
-- the next interval on) comes from an index, not from every run of the DAG: its loop stays
-- flat at 100,000 runs and more.
CREATE INDEX dag_runs_by_dag_logical ON dag_runs (dag_id, logical_date);
-- A DAG's unfinished runs (its free run slots): only those rows are indexed, so finished runs
-- cost nothing here however many there are.
CREATE INDEX dag_runs_unfinished_by_dag ON dag_runs (dag_id, created_at, run_id)
    WHERE state IN ('queued', 'running');
-- `max_active_tis_per_dag`: a task's running instances, counted in the claim.
CREATE INDEX task_instances_running_task ON task_instances (dag_id, task_id)
    WHERE state = 'running';
