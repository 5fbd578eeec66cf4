-- Counters kept as things happen (store/metric_counts.rs): runs and task instances counted
-- when they end, durations and scheduling lag by histogram bucket, spread over shards. Seeded
-- here from the rows already in the store.
CREATE TABLE metric_counts (
    dag_id TEXT NOT NULL,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    shard BIGINT NOT NULL,
    n BIGINT NOT NULL,
    total DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (dag_id, name, label, shard)
);

INSERT INTO metric_counts (dag_id, name, label, shard, n, total)
SELECT dag_id, 'dag_run', state, 0, COUNT(*), 0 FROM dag_runs
WHERE state IN ('success', 'failed') GROUP BY dag_id, state;

INSERT INTO metric_counts (dag_id, name, label, shard, n, total)
SELECT dag_id, 'task_instance', state, 0, COUNT(*), 0 FROM task_instances
WHERE state IN ('success', 'failed', 'skipped', 'upstream_failed', 'removed') GROUP BY dag_id, state;

INSERT INTO metric_counts (dag_id, name, label, shard, n, total)
SELECT dag_id, 'run_seconds', b, 0, COUNT(*), SUM(d) / 1000000.0 FROM (
    SELECT dag_id, CASE WHEN (end_date - start_date) <= 100000 THEN '0' WHEN (end_date - start_date) <= 500000 THEN '1' WHEN (end_date - start_date) <= 1000000 THEN '2' WHEN (end_date - start_date) <= 5000000 THEN '3' WHEN (end_date - start_date) <= 10000000 THEN '4' WHEN (end_date - start_date) <= 30000000 THEN '5' WHEN (end_date - start_date) <= 60000000 THEN '6' WHEN (end_date - start_date) <= 300000000 THEN '7' WHEN (end_date - start_date) <= 900000000 THEN '8' WHEN (end_date - start_date) <= 1800000000 THEN '9' WHEN (end_date - start_date) <= 3600000000 THEN '10' WHEN (end_date - start_date) <= 10800000000 THEN '11' ELSE '12' END AS b,
    CAST((CASE WHEN end_date > start_date THEN end_date - start_date ELSE 0 END)
         AS DOUBLE PRECISION) AS d
    FROM dag_runs WHERE state IN ('success', 'failed')
    AND start_date IS NOT NULL AND end_date IS NOT NULL
) s GROUP BY dag_id, b;

INSERT INTO metric_counts (dag_id, name, label, shard, n, total)
SELECT dag_id, 'try_seconds', b, 0, COUNT(*), SUM(d) / 1000000.0 FROM (
    SELECT dag_id, CASE WHEN duration_us <= 100000 THEN '0' WHEN duration_us <= 500000 THEN '1' WHEN duration_us <= 1000000 THEN '2' WHEN duration_us <= 5000000 THEN '3' WHEN duration_us <= 10000000 THEN '4' WHEN duration_us <= 30000000 THEN '5' WHEN duration_us <= 60000000 THEN '6' WHEN duration_us <= 300000000 THEN '7' WHEN duration_us <= 900000000 THEN '8' WHEN duration_us <= 1800000000 THEN '9' WHEN duration_us <= 3600000000 THEN '10' WHEN duration_us <= 10800000000 THEN '11' ELSE '12' END AS b,
    CAST((CASE WHEN duration_us > 0 THEN duration_us ELSE 0 END) AS DOUBLE PRECISION) AS d
    FROM task_tries WHERE duration_us IS NOT NULL
) s GROUP BY dag_id, b;

INSERT INTO metric_counts (dag_id, name, label, shard, n, total)
SELECT dag_id, 'lag_seconds', b, 0, COUNT(*), SUM(d) / 1000000.0 FROM (
    SELECT r.dag_id, CASE WHEN (t.first_start - r.data_interval_end) <= 100000 THEN '0' WHEN (t.first_start - r.data_interval_end) <= 500000 THEN '1' WHEN (t.first_start - r.data_interval_end) <= 1000000 THEN '2' WHEN (t.first_start - r.data_interval_end) <= 5000000 THEN '3' WHEN (t.first_start - r.data_interval_end) <= 10000000 THEN '4' WHEN (t.first_start - r.data_interval_end) <= 30000000 THEN '5' WHEN (t.first_start - r.data_interval_end) <= 60000000 THEN '6' WHEN (t.first_start - r.data_interval_end) <= 300000000 THEN '7' WHEN (t.first_start - r.data_interval_end) <= 900000000 THEN '8' WHEN (t.first_start - r.data_interval_end) <= 1800000000 THEN '9' WHEN (t.first_start - r.data_interval_end) <= 3600000000 THEN '10' WHEN (t.first_start - r.data_interval_end) <= 10800000000 THEN '11' ELSE '12' END AS b,
    CAST((CASE WHEN t.first_start > r.data_interval_end
          THEN t.first_start - r.data_interval_end ELSE 0 END) AS DOUBLE PRECISION) AS d
    FROM dag_runs r JOIN (
        SELECT dag_id, run_id, MIN(start_date) AS first_start FROM task_tries
        GROUP BY dag_id, run_id
    ) t ON t.dag_id = r.dag_id AND t.run_id = r.run_id
    WHERE r.run_type = 'scheduled'
) s GROUP BY dag_id, b;

-- The running tries: live workers for the gauges, and the tries a worker's heartbeat renews
-- (without it, each renewal read every try the store holds).
CREATE INDEX task_tries_running ON task_tries (worker_id) WHERE state = 'running';
