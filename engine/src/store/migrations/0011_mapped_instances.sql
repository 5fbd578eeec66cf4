-- Dynamic task mapping: a mapped instance (`task[i]`) keeps the arguments its expansion gave
-- it, and its name from `map_index_template` once rendered.
ALTER TABLE task_instances ADD COLUMN mapped_args TEXT;
ALTER TABLE task_instances ADD COLUMN rendered_map_index TEXT;
