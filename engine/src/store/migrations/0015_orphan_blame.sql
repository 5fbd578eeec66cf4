-- Whether an orphaned try counts against its task's orphan limit: set for an orphan of
-- unknown cause in an engine that cannot run tries alone, never for one its executor cut; a
-- clear forgives (sets it back to 0) the task's earlier ones.
ALTER TABLE task_tries ADD COLUMN blamed INTEGER NOT NULL DEFAULT 0;
