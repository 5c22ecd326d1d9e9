#!/usr/bin/env python3
"""A convolutional reference classifier for docs/timeseries.md (PLAID).

A small fully convolutional network (three 1-D convolutions of F, 2F and F
filters, widths 8, 5 and 3, each followed by group normalisation and ReLU,
then the mean over the series' own length and a linear map; Wang, Yan and
Oates 2017 describe the architecture), trained with Adam (1e-3, batches of
32) on the series padded to the longest, the padding masked out of every
convolution and of the mean. It shows what a standard deep classifier makes
of the same data and which input form it needs:

    robust   asinh((x - median) / (1.4826 MAD)), the training file's median
             and MAD (the Neural CDE's channel standardisation);
    logamp   asinh(x / eps) / 5, eps the 10th percentile of the training
             series' standard deviations: every series' order of magnitude
             and relative shape in view at once;
    cde      the Neural CDE's inputs under -instance on: the robust form,
             the series standardised by its own mean and standard deviation,
             and ln(its standard deviation / the training file's), clamped
             to +-20 and divided by 3, constant over the series.

Mode `test` trains on the training file and reports accuracy on the test
file; mode `val` trains on four stratified fifths of the training file and
reports accuracy on the fifth (the test file unread). Accuracy is printed
every 25 epochs; the figure quoted in the docs is the last one. Mode
`split DIR` writes that fifth and the rest as DIR/val0.ts and DIR/fit0.ts,
on which `go run ./examples/timeseries -train DIR/fit0.ts -test DIR/val0.ts
-opt-steps 2 -members 1` prints 1-NN DTW's accuracy on the same fifth.

usage: fcn_reference.py TRAIN.ts TEST.ts robust|logamp|cde EPOCHS FILTERS test|val
       fcn_reference.py TRAIN.ts split DIR
(needs numpy and torch; `apt-get install -y python3-torch`)
"""
import sys
import time

import numpy as np
import torch


def load(path):
    X, Y, data = [], [], False
    for line in open(path, encoding="utf-8-sig"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            data = True
            continue
        if not data:
            continue
        values, label = line.rsplit(":", 1)
        X.append(np.array([float(v) for v in values.split(",")]))
        Y.append(int(label))
    return X, np.array(Y)


class FCN(torch.nn.Module):
    def __init__(self, cin, filters, classes):
        super().__init__()
        f = filters
        self.convs = torch.nn.ModuleList([torch.nn.Conv1d(cin, f, 8, padding="same"),
                                          torch.nn.Conv1d(f, 2 * f, 5, padding="same"),
                                          torch.nn.Conv1d(2 * f, f, 3, padding="same")])
        self.norms = torch.nn.ModuleList([torch.nn.GroupNorm(1, f), torch.nn.GroupNorm(1, 2 * f), torch.nn.GroupNorm(1, f)])
        self.out = torch.nn.Linear(f, classes)

    def forward(self, x, mask):
        for conv, norm in zip(self.convs, self.norms):
            x = torch.relu(norm(conv(x * mask)))
        return self.out((x * mask).sum(-1) / mask.sum(-1))


def folds(Y):
    """Stratified fifths: each class's series dealt in a random order."""
    rng = np.random.default_rng(0)
    fold = np.zeros(len(Y), int)
    for c in np.unique(Y):
        idx = rng.permutation(np.where(Y == c)[0])
        fold[idx] = np.arange(len(idx)) % 5
    return fold


def write_split(train_path, out):
    header, rows, data = [], [], False
    for line in open(train_path, encoding="utf-8-sig"):
        line = line.rstrip("\n")
        if data and line.strip() and not line.startswith("#"):
            rows.append(line)
        else:
            header.append(line)
        if line.lower().startswith("@data"):
            data = True
    fold = folds(np.array([int(r.rsplit(":", 1)[1]) for r in rows]))
    open(f"{out}/fit0.ts", "w").write("\n".join(header + [r for r, f in zip(rows, fold) if f != 0]) + "\n")
    open(f"{out}/val0.ts", "w").write("\n".join(header + [r for r, f in zip(rows, fold) if f == 0]) + "\n")


def main():
    if sys.argv[2] == "split":
        write_split(sys.argv[1], sys.argv[3])
        return
    train_path, test_path, mode, epochs, filters, part = sys.argv[1:7]
    epochs, filters = int(epochs), int(filters)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    Xtr, Ytr = load(train_path)
    Xte, Yte = load(test_path)
    classes = int(max(Ytr.max(), Yte.max())) + 1
    length = max(len(x) for x in Xtr + Xte)
    values = np.concatenate(Xtr)
    med = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - med))
    eps = np.percentile([x.std() for x in Xtr], 10)
    std = values.std()

    def transform(x):
        if mode == "robust":
            return [np.arcsinh((x - med) / mad)]
        if mode == "cde":
            sd = x.std()
            z = (x - x.mean()) / sd if sd > 0 else 0 * x
            scale = np.clip(np.log(sd / std), -20, 20) / 3 if sd > 0 else 0.0
            return [np.arcsinh((x - med) / mad), z, np.full(len(x), scale)]
        return [np.arcsinh(x / eps) / 5]

    channels = 3 if mode == "cde" else 1

    def tensors(X):
        A = np.zeros((len(X), channels, length), np.float32)
        M = np.zeros((len(X), 1, length), np.float32)
        for i, x in enumerate(X):
            for c, v in enumerate(transform(x)):
                A[i, c, :len(x)] = v
            M[i, 0, :len(x)] = 1
        return torch.tensor(A), torch.tensor(M)

    fold = folds(Ytr)
    if part == "val":
        fit = fold != 0
        Xa, ya = [x for x, f in zip(Xtr, fit) if f], Ytr[fit]
        Xb, yb = [x for x, f in zip(Xtr, fit) if not f], Ytr[~fit]
    else:
        Xa, ya, Xb, yb = Xtr, Ytr, Xte, Yte
    A, MA = tensors(Xa)
    B, MB = tensors(Xb)
    target = torch.tensor(ya)
    net = FCN(channels, filters, classes)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    start = time.time()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(Xa))
        for i in range(0, len(Xa), 32):
            j = perm[i:i + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(A[j], MA[j]), target[j]).backward()
            opt.step()
        if (epoch + 1) % 25 == 0:
            net.eval()
            with torch.no_grad():
                pa, pb = net(A, MA).argmax(1).numpy(), net(B, MB).argmax(1).numpy()
            print(f"{mode} epoch {epoch + 1}: training {(pa == ya).mean():.3f}, {part} {(pb == yb).mean():.3f} "
                  f"({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
