"""Recomputes dagctl's drift statistics with scipy, for tests/drift_stats.rs.

Reads a JSON file of cases ({"kind": "numeric"|"categorical", "reference": [...],
"current": [...], "dagctl": {...}}) and prints, per case, scipy's numbers and a reference PSI
computed independently with numpy.
"""
import json
import sys

import numpy as np
from scipy.stats import chi2_contingency, ks_2samp


def psi(r, c, eps=1e-4):
    r = np.maximum(np.asarray(r, float), eps)
    c = np.maximum(np.asarray(c, float), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric(case):
    ref = np.asarray(case["reference"], float)
    cur = np.asarray(case["current"], float)
    ks = ks_2samp(ref, cur, method="auto")
    # Deciles of the reference (numpy's linear interpolation), equal edges merged, last bin open.
    edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
    idx_r = np.searchsorted(edges, ref, side="left")
    idx_c = np.searchsorted(edges, cur, side="left")
    k = len(edges) + 1
    r = np.bincount(idx_r, minlength=k) / len(ref)
    c = np.bincount(idx_c, minlength=k) / len(cur)
    return {"statistic": float(ks.statistic), "p_value": float(ks.pvalue), "psi": psi(r, c)}


def categorical(case):
    ref, cur = case["reference"], case["current"]
    cats = sorted(set(ref) | set(cur))
    r = np.array([ref.count(x) for x in cats], float)
    c = np.array([cur.count(x) for x in cats], float)
    stat, p, dof, _ = chi2_contingency(np.vstack([r, c]))
    return {"statistic": float(stat), "p_value": float(p), "dof": int(dof), "psi": psi(r / r.sum(), c / c.sum())}


cases = json.load(open(sys.argv[1]))
print(json.dumps([numeric(c) if c["kind"] == "numeric" else categorical(c) for c in cases]))
