-- Tries a run's driver hands to any worker (`dagctl worker`): the try row waits `queued`
-- (with its task's pool) until a worker takes it, which records the try's outcome for the
-- driver to apply.
ALTER TABLE task_tries ADD COLUMN handed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_tries ADD COLUMN outcome TEXT;
ALTER TABLE task_tries ADD COLUMN pool TEXT;
-- Workers take the oldest queued tries first.
CREATE INDEX task_tries_queued ON task_tries (start_date) WHERE state = 'queued';
