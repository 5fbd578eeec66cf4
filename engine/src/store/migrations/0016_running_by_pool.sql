-- A claim sums the slots its pool's running task instances hold (pools hold across every
-- process sharing the store) in its transaction: only running rows are indexed.
CREATE INDEX task_instances_running_pool ON task_instances (pool) WHERE state = 'running';
