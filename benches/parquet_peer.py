"""pyarrow doing what `cargo bench --bench dataset` does, on the same data.

Reads the day partitions dagctl wrote (to use identical rows), then times pyarrow writing them
as 365 Hive day partitions (one zstd Parquet file per day) and reading them back as a
partitioned dataset. Prints rows/s as JSON.
"""
import json, os, shutil, sys, time
import pyarrow.dataset as ds
import pyarrow.parquet as pq

src, dst = sys.argv[1], sys.argv[2]
days = []
for root, _dirs, files in sorted(os.walk(src)):
    for f in files:
        if f.endswith(".parquet"):
            days.append((os.path.relpath(root, src), pq.read_table(os.path.join(root, f))))
days.sort(key=lambda d: d[0])
rows = sum(t.num_rows for _, t in days)
shutil.rmtree(dst, ignore_errors=True)
t0 = time.perf_counter()
for rel, table in days:
    os.makedirs(os.path.join(dst, rel), exist_ok=True)
    pq.write_table(table, os.path.join(dst, rel, "part-00000.parquet"), compression="zstd")
write_s = time.perf_counter() - t0
t0 = time.perf_counter()
n = ds.dataset(dst, format="parquet", partitioning="hive").to_table().num_rows
read_s = time.perf_counter() - t0
assert n == rows, (n, rows)
print(json.dumps({"rows": rows, "write_rows_per_s": rows / write_s, "read_rows_per_s": rows / read_s}))
