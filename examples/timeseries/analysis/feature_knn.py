#!/usr/bin/env python3
"""Nearest neighbours in the Neural CDE's own feature space (docs/timeseries.md).

Reads the CSV that `go run ./examples/timeseries ... -dump FILE` writes
(per member and series: part, index, label, logits, head features) and, per
member, compares the trained softmax head with a 1-nearest-neighbour rule on
the same features: validation fold against the fitted series, and test
series against the fitted series (and against fitted + validation series),
on the raw features, on features standardised by the fitted series' mean and
standard deviation, and on the logits, each in Euclidean and cosine
distance. A head that matched near copies of training series the way 1-NN
DTW does would show here.

usage: feature_knn.py DUMP.csv   (needs numpy)
"""
import sys

import numpy as np


def main():
    rows = np.genfromtxt(sys.argv[1], delimiter=",", names=True, dtype=None, encoding="utf-8")
    names = rows.dtype.names
    logit_cols = [n for n in names if n.startswith("logit_")]
    feat_cols = [n for n in names if n.startswith("feature_")]
    for member in np.unique(rows["member"]):
        parts = {}
        for part in ("fit", "validation", "test"):
            r = rows[(rows["member"] == member) & (rows["part"] == part)]
            L = np.array([r[c] for c in logit_cols], float).T
            F = np.array([r[c] for c in feat_cols], float).T
            parts[part] = (np.asarray(r["label"]), L, F)
        yf, lf, ff = parts["fit"]
        yv, lv, fv = parts["validation"]
        yt, lt, ft = parts["test"]
        print(f"member {member}: softmax head: fit {(lf.argmax(1) == yf).mean():.3f}, "
              f"validation {(lv.argmax(1) == yv).mean():.3f}, test {(lt.argmax(1) == yt).mean():.3f}")
        mu, sd = ff.mean(0), ff.std(0) + 1e-9
        spaces = {"features": (ff, fv, ft), "standardised features": ((ff - mu) / sd, (fv - mu) / sd, (ft - mu) / sd),
                  "logits": (lf, lv, lt)}
        for name, (F, V, T) in spaces.items():
            for metric in ("euclidean", "cosine"):
                pv = nearest(F, yf, V, metric)
                pt = nearest(F, yf, T, metric)
                pt2 = nearest(np.vstack([F, V]), np.concatenate([yf, yv]), T, metric)
                print(f"  1-NN on {name}, {metric}: validation {(pv == yv).mean():.3f}, "
                      f"test {(pt == yt).mean():.3f} (fitted series), {(pt2 == yt).mean():.3f} (fitted + validation)")


def nearest(F, y, Q, metric):
    if metric == "cosine":
        F = F / (np.linalg.norm(F, axis=1, keepdims=True) + 1e-12)
        Q = Q / (np.linalg.norm(Q, axis=1, keepdims=True) + 1e-12)
        d = -Q @ F.T
    else:
        d = (Q * Q).sum(1)[:, None] + (F * F).sum(1)[None, :] - 2 * Q @ F.T
    return y[d.argmin(1)]


if __name__ == "__main__":
    main()
