"""Reference classification metrics for tests/test_metrics.c, from scikit-learn.

Usage: metrics_ref.py CASES.json OUT.json
CASES.json: [{"name", "k", "probs": [[...]], "labels": [...], "groups": [...]|null}]
OUT.json: one object per case: {"name", "crop": {...}, "group": {...}|null};
undefined values (AUC with one class present, rates without positives) are null.
"""
import json
import math
import sys
import warnings

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score,
                             confusion_matrix, log_loss,
                             precision_recall_fscore_support, roc_auc_score,
                             roc_curve)


def clean(value):
    """Lists of floats with NaN/inf as null."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [clean(v) for v in value]
    value = float(value)
    return value if math.isfinite(value) else None


def auc_or_none(y_true, y_score, **kw):
    try:
        return roc_auc_score(y_true, y_score, **kw)
    except ValueError:
        return None


def level(probs, y, k):
    labels = list(range(k))
    pred = probs.argmax(axis=1)
    out = {"n": len(y), "accuracy": accuracy_score(y, pred),
           "balanced_accuracy": balanced_accuracy_score(y, pred),
           "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
           "log_loss": log_loss(y, probs, eps=1e-15, labels=labels)}
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    out.update(precision=clean(p), recall=clean(r), f1=clean(f), support=s.tolist())
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=labels,
                                                     average=avg, zero_division=0)
        out[avg + "_precision"], out[avg + "_recall"], out[avg + "_f1"] = p, r, f
    classes = [1] if k == 2 else labels
    out["roc"] = []
    for c in classes:
        fpr, tpr, thr = roc_curve(y == c, probs[:, c])
        out["roc"].append({"cls": c, "fpr": clean(fpr), "tpr": clean(tpr),
                           "thresholds": clean(thr),
                           "auc": auc_or_none(y == c, probs[:, c])})
    if k == 2:
        out["auc"] = auc_or_none(y, probs[:, 1])
    else:
        out["auc"] = auc_or_none(y, probs, multi_class="ovr", labels=labels)
    return out


def groups_of(probs, y, groups, k):
    ids = sorted(set(int(g) for g in groups if g >= 0))
    if not ids:
        return None
    gp = np.array([probs[groups == g].mean(axis=0) for g in ids])
    gy = np.array([np.bincount(y[groups == g], minlength=k).argmax() for g in ids])
    return level(gp, gy, k)


def main():
    warnings.simplefilter("ignore")
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    results = []
    for case in cases:
        k = case["k"]
        probs = np.array(case["probs"], dtype=np.float64).reshape(-1, k)
        y = np.array(case["labels"], dtype=np.int64)
        res = {"name": case["name"], "crop": level(probs, y, k), "group": None}
        if case.get("groups") is not None:
            res["group"] = groups_of(probs, y, np.array(case["groups"]), k)
        results.append(res)
    with open(sys.argv[2], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
