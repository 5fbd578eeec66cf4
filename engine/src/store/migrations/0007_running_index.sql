-- A claim counts its DAG's running task instances (`max_active_tasks` across runs and
-- processes) in its transaction. Only running rows are indexed, so the index costs a write
-- only when an instance starts or stops running.
CREATE INDEX task_instances_running ON task_instances (dag_id) WHERE state = 'running';
