#!/usr/bin/env python3
"""Reference figures for docs/timeseries.md ("What the gap is made of").

Classifiers on four numbers per series (asinh(v/eps) of the series' mean,
standard deviation, maximum and minimum, eps = 1e-3, standardised on the
training file): a 1-nearest-neighbour rule and a one-hidden-layer tanh
network (64 units, Adam, 3000 full-batch steps, weight decay 1e-4), each in
5-fold cross-validation on the training file and once on the test file;
how near each test series lies to its nearest training series in those
four numbers (the near copies of recordings of one appliance); and a 1-NN
on k evenly spaced quantiles of asinh(v/eps) instead (k = 4, 10, 20); and
the lag (2-19 observations) at which each training series' autocorrelation
peaks: the mains cycle's length in observations.
With --splits DIR it also writes three stratified fifths of the training
file as DIR/fitS.ts and DIR/valS.ts (S = 5, 6, 7), on which

    go run ./examples/timeseries -train DIR/fitS.ts -test DIR/valS.ts -opt-steps 5 -members 1

prints the 1-NN DTW accuracy on a validation fold.

usage: plaid_features.py TRAIN.ts TEST.ts [--splits DIR]   (needs numpy)
"""
import random
import sys

import numpy as np


def load(path):
    header, rows, X, Y = [], [], [], []
    for line in open(path):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("@") or line.startswith("#"):
            header.append(line)
            continue
        rows.append(line)
        values, label = line.rsplit(":", 1)
        X.append(np.array([float(v) for v in values.split(",")]))
        Y.append(label)
    classes = sorted(set(Y))
    return header, rows, X, np.array([classes.index(y) for y in Y])


def features(x, eps=1e-3):
    a = lambda v: np.arcsinh(v / eps)
    return [a(x.mean()), a(x.std()), a(x.max()), a(x.min())]


def nearest(F, Y, Q):
    d = ((Q[:, None, :] - F[None, :, :]) ** 2).sum(-1)
    return Y[d.argmin(1)]


def cross(F, Y):
    """Per training series, the distance to the nearest one of another class."""
    d = np.sqrt(((F[:, None, :] - F[None, :, :]) ** 2).sum(-1))
    d[Y[:, None] == Y[None, :]] = np.inf
    return d.min(1)


def network(F, Y, classes, hidden=64, steps=3000, lr=0.01, wd=1e-4, seed=0):
    r = np.random.default_rng(seed)
    W1 = r.normal(0, 1 / np.sqrt(F.shape[1]), (F.shape[1], hidden))
    b1 = np.zeros(hidden)
    W2 = r.normal(0, 1 / np.sqrt(hidden), (hidden, classes))
    b2 = np.zeros(classes)
    P = [W1, b1, W2, b2]
    M = [np.zeros_like(p) for p in P]
    V = [np.zeros_like(p) for p in P]
    T = np.eye(classes)[Y]
    for t in range(1, steps + 1):
        h = np.tanh(F @ W1 + b1)
        z = h @ W2 + b2
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - T) / len(F)
        gh = g @ W2.T * (1 - h * h)
        G = [F.T @ gh + wd * W1, gh.sum(0), h.T @ g + wd * W2, g.sum(0)]
        for i in range(4):
            M[i] = 0.9 * M[i] + 0.1 * G[i]
            V[i] = 0.999 * V[i] + 0.001 * G[i] ** 2
            P[i] -= lr * (M[i] / (1 - 0.9**t)) / (np.sqrt(V[i] / (1 - 0.999**t)) + 1e-8)
    return lambda Q: (np.tanh(Q @ W1 + b1) @ W2 + b2).argmax(1)


def main():
    header, rows, X, Y = load(sys.argv[1])
    _, _, Xt, Yt = load(sys.argv[2])
    classes = int(max(Y.max(), Yt.max())) + 1
    F = np.array([features(x) for x in X])
    Ft = np.array([features(x) for x in Xt])
    m, s = F.mean(0), F.std(0) + 1e-9
    F, Ft = (F - m) / s, (Ft - m) / s
    folds = np.random.default_rng(0).integers(0, 5, len(X))
    for name, fit in [("1-NN", lambda F_, Y_: (lambda Q: nearest(F_, Y_, Q))),
                      ("tanh network", lambda F_, Y_: network(F_, Y_, classes))]:
        right = 0
        for k in range(5):
            tr, va = folds != k, folds == k
            right += (fit(F[tr], Y[tr])(F[va]) == Y[va]).sum()
        test = (fit(F, Y)(Ft) == Yt).mean()
        print(f"{name} on four numbers: 5-fold CV {right / len(X):.3f}, test {test:.3f}")
    d = ((Ft[:, None, :] - F[None, :, :]) ** 2).sum(-1)
    near = np.sqrt(d.min(1))
    nn = d.argmin(1)
    same = np.array([len(Xt[i]) == len(X[j]) for i, j in enumerate(nn)])
    print("test series' distance to the nearest training series (four numbers, standardised):",
          "quartiles " + " ".join(f"{q:.2g}" for q in np.percentile(near, [25, 50, 75])),
          f"(nearest-neighbour distance between two training series in different classes: median {np.median(cross(F, Y)):.2g});",
          f"same length as that neighbour {same.mean():.3f}")
    for k in (4, 10, 20):
        Q = np.array([np.quantile(np.arcsinh(x / 1e-3), np.linspace(0, 1, k)) for x in X])
        Qt = np.array([np.quantile(np.arcsinh(x / 1e-3), np.linspace(0, 1, k)) for x in Xt])
        right = sum((nearest(Q[folds != f], Y[folds != f], Q[folds == f]) == Y[folds == f]).sum() for f in range(5))
        print(f"1-NN on {k} quantiles: 5-fold CV {right / len(X):.3f}, test {(nearest(Q, Y, Qt) == Yt).mean():.3f}")
    lags = {}
    for x in X:
        y = x - x.mean()
        if y @ y > 0:
            lag = 2 + int(np.argmax([y[:-k] @ y[k:] for k in range(2, 20)]))
            lags[lag] = lags.get(lag, 0) + 1
    print("autocorrelation peaks at lag (training series):", sorted(lags.items(), key=lambda t: -t[1])[:4])
    if "--splits" in sys.argv:
        out = sys.argv[sys.argv.index("--splits") + 1]
        for seed in (5, 6, 7):
            random.seed(seed)
            by = {}
            for r in rows:
                by.setdefault(r.rsplit(":", 1)[1], []).append(r)
            fit, val = [], []
            for members in by.values():
                random.shuffle(members)
                k = round(len(members) * 0.2)
                val += members[:k]
                fit += members[k:]
            open(f"{out}/fit{seed}.ts", "w").write("\n".join(header + fit) + "\n")
            open(f"{out}/val{seed}.ts", "w").write("\n".join(header + val) + "\n")


if __name__ == "__main__":
    main()
