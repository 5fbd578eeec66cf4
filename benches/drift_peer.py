#!/usr/bin/env python3
"""Peer timings for `detect_drift`: Evidently's DataDriftPreset and a scipy/numpy baseline.

    python benches/drift_peer.py DATA_DIR [--ref-from 2026-01-01] [--ref-to 2026-01-30]
                                 [--current 2026-01-31] [--runs 5] [--only evidently|scipy]

DATA_DIR is a dagctl data location (`$DAGCTL_HOME/data`) or its `raw_data` dataset folder: days
are read from `raw_data/year=YYYY/month=MM/day=DD/*.parquet`, as `generate_customers` writes them.
The reference is every day from --ref-from to --ref-to, the current data the --current day. The
id, the label and the date/timestamp columns are dropped (`customer_id`, `churned`, and every
date or timestamp typed column); the numeric columns are compared as numeric features and the
string columns as categorical ones, which for `generate_customers` data is exactly the column set
`detect_drift` compares by default (6 numeric, 3 categorical).

Each method runs in a child process of its own (so that its peak RSS is its own), one warm-up run
then --runs timed runs, and reports the median and the minimum:

* evidently: `Report([DataDriftPreset()]).run(...)` on `evidently.Dataset`s with an explicit
  `DataDefinition`, plus `save_html` to a temporary file (the timed unit is both; `run_s` and
  `html_s` split it). Evidently picks its own tests: for more than 1,000 reference rows,
  normed Wasserstein distance (numeric) and Jensen-Shannon distance (categorical), threshold 0.1;
  `--evidently-method psi` (or any Evidently stattest name) forces one method for every column.
  Telemetry is switched off (DO_NOT_TRACK, ITERATIVE_DO_NOT_TRACK) before Evidently is imported.
* scipy: what `detect_drift` computes, per feature: `ks_2samp` and PSI over the reference's
  deciles for numeric columns, `chi2_contingency` and PSI over the categories for categorical
  ones (missing values left out), a feature drifting when PSI > 0.25 or p < 0.05.

Both also report `import_s` (importing the method's libraries), `load_s` (Parquet to pandas,
once), `rss_after_load_mb` and `peak_rss_mb` (`resource.getrusage(RUSAGE_SELF).ru_maxrss` of the
child) and `process_wall_s` (the whole child: interpreter, imports, load, warm-up and timed runs).
The whole result is one JSON line on stdout. Evidently is optional: without it, its entry says
why it was skipped (install it with `pip install evidently 'pandas<3'`: Evidently 0.7.23 does
not pin pandas, and does not import with pandas 3).
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

# Evidently sends usage events unless told not to; set before anything imports it.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("ITERATIVE_DO_NOT_TRACK", "1")

DROP = {"customer_id", "churned"}
PSI_THRESHOLD = 0.25
ALPHA = 0.05
SHARE = 0.5
EPS = 1e-4


def rss_mb():
    # ru_maxrss is in KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def dataset_dir(data_dir):
    p = pathlib.Path(data_dir)
    if (p / "raw_data").is_dir():
        return p / "raw_data"
    return p


def day_files(root, day):
    d = root / f"year={day.year:04d}" / f"month={day.month:02d}" / f"day={day.day:02d}"
    files = sorted(d.glob("*.parquet"))
    if not files:
        raise SystemExit(f"drift_peer: no Parquet files for {day} under {d}")
    return files


def load(args):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyarrow.types as pt

    root = dataset_dir(args.data_dir)
    start, end = dt.date.fromisoformat(args.ref_from), dt.date.fromisoformat(args.ref_to)
    days = [start + dt.timedelta(n) for n in range((end - start).days + 1)]
    t0 = time.perf_counter()
    ref = pa.concat_tables([pq.read_table(f) for d in days for f in day_files(root, d)])
    cur = pa.concat_tables([pq.read_table(f) for f in day_files(root, dt.date.fromisoformat(args.current))])
    numeric, categorical = [], []
    for field in ref.schema:
        if field.name in DROP:
            continue
        if pt.is_integer(field.type) or pt.is_floating(field.type):
            numeric.append(field.name)
        elif pt.is_string(field.type) or pt.is_large_string(field.type) or pt.is_dictionary(field.type):
            categorical.append(field.name)
        # dates, timestamps and anything else: dropped
    cols = numeric + categorical
    ref_df = ref.select(cols).to_pandas()
    cur_df = cur.select(cols).to_pandas()
    # Nullable integers come back as float64 (NaN for nulls): fine for both methods.
    return ref_df, cur_df, numeric, categorical, time.perf_counter() - t0


# --- scipy / numpy: the statistics detect_drift computes ----------------------------------------


def psi(r, c):
    import numpy as np

    r = np.maximum(np.asarray(r, float), EPS)
    c = np.maximum(np.asarray(c, float), EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def scipy_drift(ref_df, cur_df, numeric, categorical):
    import numpy as np
    from scipy.stats import chi2_contingency, ks_2samp

    out = {}
    for col in numeric:
        ref = ref_df[col].dropna().to_numpy(float)
        cur = cur_df[col].dropna().to_numpy(float)
        ks = ks_2samp(ref, cur, method="auto")
        edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
        k = len(edges) + 1
        r = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=k) / len(ref)
        c = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=k) / len(cur)
        p = psi(r, c)
        out[col] = {"psi": p, "p_value": float(ks.pvalue), "drifted": bool(p > PSI_THRESHOLD or ks.pvalue < ALPHA)}
    for col in categorical:
        ref = ref_df[col].dropna()
        cur = cur_df[col].dropna()
        rc = ref.value_counts()
        cc = cur.value_counts()
        cats = sorted(set(rc.index) | set(cc.index))
        r = rc.reindex(cats, fill_value=0).to_numpy(float)
        c = cc.reindex(cats, fill_value=0).to_numpy(float)
        _, pv, _, _ = chi2_contingency(np.vstack([r, c]))
        p = psi(r / r.sum(), c / c.sum())
        out[col] = {"psi": p, "p_value": float(pv), "drifted": bool(p > PSI_THRESHOLD or pv < ALPHA)}
    return out


# --- Evidently ----------------------------------------------------------------------------------


def evidently_drift(ref_df, cur_df, numeric, categorical, method, html_path):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    t0 = time.perf_counter()
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    preset = DataDriftPreset(method=method) if method else DataDriftPreset()
    snapshot = Report([preset]).run(
        current_data=Dataset.from_pandas(cur_df, data_definition=definition),
        reference_data=Dataset.from_pandas(ref_df, data_definition=definition),
    )
    t1 = time.perf_counter()
    snapshot.save_html(html_path)
    t2 = time.perf_counter()
    return snapshot, t1 - t0, t2 - t1


def evidently_summary(snapshot):
    count, per_column = None, {}
    for m in snapshot.dict().get("metrics", []):
        cfg = m.get("config", {})
        kind = cfg.get("type", "")
        if kind.endswith("DriftedColumnsCount"):
            count = int(m["value"]["count"])
        elif kind.endswith("ValueDrift"):
            meth, thr, v = cfg.get("method", ""), cfg.get("threshold"), m.get("value")
            # p-value tests drift below the threshold, distances above it.
            drifted = (v < thr) if "p_value" in meth else (v >= thr)
            per_column[cfg.get("column")] = {"method": meth, "value": v, "threshold": thr, "drifted": bool(drifted)}
    return count, per_column


# --- one method in this process -----------------------------------------------------------------


def run_one(args):
    t0 = time.perf_counter()
    if args.only == "scipy":
        import scipy.stats  # noqa: F401
    else:
        import evidently.presets  # noqa: F401
    import_s = time.perf_counter() - t0
    ref_df, cur_df, numeric, categorical, load_s = load(args)
    res = {
        "import_s": round(import_s, 3),
        "load_s": round(load_s, 4),
        "rss_after_load_mb": rss_mb(),
    }
    times = []
    if args.only == "scipy":
        for i in range(args.runs + 1):
            t0 = time.perf_counter()
            cols = scipy_drift(ref_df, cur_df, numeric, categorical)
            if i:
                times.append(time.perf_counter() - t0)
        drifted = [c for c, v in cols.items() if v["drifted"]]
        res.update(
            method="ks_2samp + chi2_contingency + numpy PSI (PSI > 0.25 or p < 0.05)",
            features={c: {k: round(v, 6) if isinstance(v, float) else v for k, v in d.items()} for c, d in cols.items()},
        )
    else:
        import evidently

        res["version"] = evidently.__version__
        run_s, html_s = [], []
        with tempfile.TemporaryDirectory(prefix="drift-peer-") as tmp:
            html = os.path.join(tmp, "report.html")
            for i in range(args.runs + 1):
                t0 = time.perf_counter()
                snapshot, r, h = evidently_drift(ref_df, cur_df, numeric, categorical, args.evidently_method, html)
                if i:
                    times.append(time.perf_counter() - t0)
                    run_s.append(r)
                    html_s.append(h)
            res["html_bytes"] = os.path.getsize(html)
            if args.keep_html:
                pathlib.Path(args.keep_html).write_bytes(pathlib.Path(html).read_bytes())
        count, cols = evidently_summary(snapshot)
        drifted = [c for c, v in cols.items() if v["drifted"]]
        res.update(
            method=f"DataDriftPreset({'method=' + repr(args.evidently_method) if args.evidently_method else 'defaults'})",
            run_s=round(statistics.median(run_s), 4),
            html_s=round(statistics.median(html_s), 4),
            drifted_count_reported=count,
            features=cols,
        )
    res.update(
        median_s=round(statistics.median(times), 4),
        min_s=round(min(times), 4),
        runs=len(times),
        drifted=len(drifted),
        drifted_features=sorted(drifted),
        dataset_drift=len(drifted) >= SHARE * len(numeric + categorical),
        peak_rss_mb=rss_mb(),
        reference_rows=len(ref_df),
        current_rows=len(cur_df),
        numeric=numeric,
        categorical=categorical,
    )
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", help="$DAGCTL_HOME/data, or its raw_data folder")
    ap.add_argument("--ref-from", default="2026-01-01")
    ap.add_argument("--ref-to", default="2026-01-30")
    ap.add_argument("--current", default="2026-01-31")
    ap.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up")
    ap.add_argument("--only", choices=["evidently", "scipy"], help="run one method in this process")
    ap.add_argument("--evidently-method", help="force one Evidently stattest (e.g. psi, ks); default: its own choice")
    ap.add_argument("--keep-html", help="copy Evidently's last HTML report here")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    missing = []
    for mod in ("numpy", "pandas", "pyarrow", "scipy"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        print(f"drift_peer: needs {', '.join(missing)}: pip install numpy pandas pyarrow scipy", file=sys.stderr)
        return 2
    if args.only:
        print(json.dumps(run_one(args)))
        return 0

    out = {"data_dir": str(dataset_dir(args.data_dir)), "reference": f"{args.ref_from}..{args.ref_to}", "current": args.current}
    for method in ("evidently", "scipy"):
        if method == "evidently":
            probe = subprocess.run([sys.executable, "-c", "import evidently"], capture_output=True, text=True)
            if probe.returncode != 0:
                last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
                out[method] = {"skipped": f"evidently not importable: {last}"}
                continue
        cmd = [sys.executable, os.path.abspath(__file__), args.data_dir, "--only", method, "--runs", str(args.runs),
               "--ref-from", args.ref_from, "--ref-to", args.ref_to, "--current", args.current]
        if method == "evidently" and args.evidently_method:
            cmd += ["--evidently-method", args.evidently_method]
        if method == "evidently" and args.keep_html:
            cmd += ["--keep-html", args.keep_html]
        t0 = time.perf_counter()
        child = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if child.returncode != 0:
            out[method] = {"error": child.stderr.strip()[-2000:]}
            continue
        res = json.loads(child.stdout.strip().splitlines()[-1])
        res["process_wall_s"] = round(wall, 3)
        out[method] = res
    # The shared facts once, at the top.
    for method in ("evidently", "scipy"):
        res = out.get(method, {})
        for key in ("reference_rows", "current_rows", "numeric", "categorical"):
            if key in res:
                out.setdefault(key, res[key])
    out["features"] = len(out.get("numeric", [])) + len(out.get("categorical", []))
    print(json.dumps(out))
    return 1 if any("error" in out.get(m, {}) for m in ("evidently", "scipy")) else 0


if __name__ == "__main__":
    sys.exit(main())
