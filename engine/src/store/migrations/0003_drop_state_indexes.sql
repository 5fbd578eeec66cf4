-- No query reads task instances or tries by state alone (they are read by DAG and run), so
-- these indexes only cost a page write on every state change.
DROP INDEX IF EXISTS task_instances_by_state;
DROP INDEX IF EXISTS task_tries_by_state;
