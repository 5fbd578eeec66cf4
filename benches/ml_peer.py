"""pandas + scikit-learn (and LightGBM) doing what `cargo bench --bench ml` does, on the same files.

    ml_peer.py prepare RAW_DIR OUT_DIR        time the preparation of every raw day under RAW_DIR
    ml_peer.py train PREPARED_DIR N_JOBS      train on dagctl's train.parquet / test.parquet

Both print one JSON object. `prepare` repeats dagctl's steps (median/mode imputation fitted on
the training split, 1.5·IQR capping, the same engineered features, one-hot, stratified 80/20
split, standard scaling) and writes train/test Parquet. `train` fits the same candidates with
the same grid and folds as dagctl's `train_models` defaults, on the very same rows (the test
file is the window's newest day, held out), with scikit-learn's HistGradientBoostingClassifier
and LightGBM's LGBMClassifier beside them; it reports the process's peak RSS.
"""
import json
import math
import os
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def prepare(raw_dir, out_dir):
    t0 = time.perf_counter()
    df = ds.dataset(raw_dir, format="parquet", partitioning="hive").to_table().to_pandas()
    df = df[df["churned"].notna()]
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(df, test_size=0.2, stratify=df["churned"], random_state=42)
    numeric = ["age", "tenure_months", "monthly_spend", "transactions", "support_tickets", "sessions"]
    categorical = ["segment", "region", "plan"]

    def days_since(d):
        return (d["event_timestamp"] - d["last_login"]).dt.total_seconds() / 86400.0

    train = train.assign(days_since_last_login=days_since(train))
    test = test.assign(days_since_last_login=days_since(test))
    nums = numeric + ["days_since_last_login"]
    stats = {}
    for c in nums:
        v = train[c].astype("float64")
        q1, med, q3 = v.quantile([0.25, 0.5, 0.75])
        stats[c] = (med, q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1))
    modes = {c: train[c].mode().sort_values().iloc[0] for c in categorical}
    cats = {c: sorted(train[c].dropna().unique()) for c in categorical}

    def clean(d):
        out = pd.DataFrame(index=d.index)
        for c in nums:
            med, lo, hi = stats[c]
            out[c] = d[c].astype("float64").fillna(med).clip(lo, hi)
        for c in categorical:
            out[c] = d[c].fillna(modes[c])
        ts = d["event_timestamp"]
        out["hour"] = ts.dt.hour.astype("float64")
        out["day_of_week"] = ts.dt.dayofweek.astype("float64")
        out["is_weekend"] = (out["day_of_week"] >= 5).astype("float64")
        out["spend_per_transaction"] = out["monthly_spend"] / out["transactions"].clip(lower=1)
        out["engagement_score"] = (
            np.log1p(out["sessions"].clip(lower=0))
            + 0.5 * np.log1p(out["transactions"].clip(lower=0))
            - out["days_since_last_login"] / 15
        )
        out["high_support_tickets"] = (out["support_tickets"] >= 4).astype("float64")
        return out

    ctrain, ctest = clean(train), clean(test)
    threshold = ctrain["engagement_score"].quantile(0.25)
    means = {c: ctrain.groupby("segment")[c].mean() for c in ["monthly_spend", "sessions", "transactions"]}
    overall = {c: ctrain[c].mean() for c in means}

    def engineer(c):
        c["low_engagement"] = (c["engagement_score"] < threshold).astype("float64")
        for k in means:
            c[k + "_vs_segment"] = c[k] / c["segment"].map(means[k]).fillna(overall[k])
        for col in categorical:
            for v in cats[col]:
                c[f"{col}_{v}"] = (c[col] == v).astype("float64")
        return c.drop(columns=categorical)

    ftrain, ftest = engineer(ctrain), engineer(ctest)
    from sklearn.preprocessing import StandardScaler

    scaled = nums + ["hour", "day_of_week", "spend_per_transaction", "engagement_score"] + [
        k + "_vs_segment" for k in means
    ]
    scaler = StandardScaler().fit(ftrain[scaled])
    ftrain[scaled] = scaler.transform(ftrain[scaled])
    ftest[scaled] = scaler.transform(ftest[scaled])
    ftrain["churned"] = train["churned"].values
    ftest["churned"] = test["churned"].values
    os.makedirs(out_dir, exist_ok=True)
    ftrain.to_parquet(os.path.join(out_dir, "train.parquet"), compression="zstd")
    ftest.to_parquet(os.path.join(out_dir, "test.parquet"), compression="zstd")
    secs = time.perf_counter() - t0
    print(json.dumps({"rows": len(df), "seconds": secs, "features": ftrain.shape[1] - 1}))


def train(prepared_dir, n_jobs):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.metrics import f1_score, roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    meta = json.load(open(os.path.join(prepared_dir, "feature_metadata.json")))
    cols = meta["feature_columns"]
    tr = pq.read_table(os.path.join(prepared_dir, "train.parquet")).to_pandas()
    te = pq.read_table(os.path.join(prepared_dir, "test.parquet")).to_pandas()
    X, y, Xt, yt = tr[cols].values, tr["churned"].values, te[cols].values, te["churned"].values
    out = {}

    def record(name, fit, proba):
        t0 = time.perf_counter()
        model = fit()
        secs = time.perf_counter() - t0
        p = proba(model)
        pred = (p >= 0.5).astype(int)
        out[name] = {"f1_macro": f1_score(yt, pred, average="macro"), "roc_auc": roc_auc_score(yt, p), "seconds": secs}

    record("linear_regression", lambda: LinearRegression().fit(X, y), lambda m: m.predict(Xt))
    record(
        "logistic_regression",
        lambda: LogisticRegression(max_iter=1000).fit(X, y),
        lambda m: m.predict_proba(Xt)[:, 1],
    )
    grid = {"max_depth": [12, None], "min_samples_leaf": [1, 5]}
    record(
        "random_forest",
        lambda: GridSearchCV(
            RandomForestClassifier(n_estimators=100, max_features="sqrt", random_state=42, n_jobs=n_jobs),
            grid,
            cv=StratifiedKFold(3, shuffle=True, random_state=42),
            scoring="f1_macro",
            n_jobs=1,
        ).fit(X, y),
        lambda m: m.predict_proba(Xt)[:, 1],
    )
    from sklearn.ensemble import HistGradientBoostingClassifier

    # dagctl's gradient_boosting defaults: 100 rounds, rate 0.1, 31 leaves, 20 rows a leaf.
    record(
        "gradient_boosting",
        lambda: HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_leaf_nodes=31, min_samples_leaf=20,
            early_stopping=False, random_state=42,
        ).fit(X, y),
        lambda m: m.predict_proba(Xt)[:, 1],
    )
    same = dict(out)
    total = sum(v["seconds"] for v in same.values())
    best = max(same.items(), key=lambda kv: kv[1]["f1_macro"])
    try:
        from lightgbm import LGBMClassifier

        record(
            "lightgbm",
            lambda: LGBMClassifier(n_estimators=100, learning_rate=0.1, num_leaves=31,
                                   min_child_samples=20, n_jobs=n_jobs, verbose=-1).fit(X, y),
            lambda m: m.predict_proba(Xt)[:, 1],
        )
    except ImportError:
        pass
    import resource

    print(json.dumps({
        "rows": len(tr), "candidates": out, "seconds": total,
        "best": best[0], "best_f1_macro": best[1]["f1_macro"],
        "lightgbm_f1_macro": out.get("lightgbm", {}).get("f1_macro"),
        "lightgbm_seconds": out.get("lightgbm", {}).get("seconds"),
        "hist_gb_seconds": out["gradient_boosting"]["seconds"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    else:
        train(sys.argv[2], int(sys.argv[3]))
