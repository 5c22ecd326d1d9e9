"""Synthetic .ts pairs of session 12 (docs/timeseries.md, "Session 12").

    /usr/bin/python3 examples/timeseries/analysis/synthetic.py OUTDIR

writes OUTDIR/{CBF,Control,Point,Motion,Rotation,Gesture}_{TRAIN,TEST}.ts:
CBF (Saito 1994) and SyntheticControl (Alcock and Manolopoulos 1999) from
their published generators, and sets shaped like GunPoint, BasicMotions
and Cricket, and one whose class lives between two channels. numpy only.
"""
import sys

import numpy as np


def write(path, X, y, name, classes):
    n, c, L = X.shape
    with open(path, 'w') as f:
        f.write(f"@problemName {name}\n@timeStamps false\n@missing false\n@univariate {'true' if c==1 else 'false'}\n")
        if c > 1: f.write(f"@dimensions {c}\n")
        f.write(f"@equalLength true\n@seriesLength {L}\n@classLabel true {' '.join(str(k) for k in range(classes))}\n@data\n")
        for i in range(n):
            f.write(':'.join(','.join(f"{v:.5g}" for v in X[i, ch]) for ch in range(c)) + f":{y[i]}\n")
def znorm(X):
    return (X - X.mean(-1, keepdims=True)) / X.std(-1, keepdims=True)
def cbf(n, rng):
    y = np.arange(n) % 3; rng.shuffle(y)
    t = np.arange(1, 129); X = np.empty((n, 1, 128))
    for i in range(n):
        a = rng.integers(16, 33); b = a + rng.integers(32, 97); eta = rng.normal(); chi = ((t >= a) & (t <= b)).astype(float)
        shape = [chi, chi*(t-a)/(b-a), chi*(b-t)/(b-a)][y[i]]
        X[i, 0] = (6+eta)*shape + rng.normal(size=128)
    return znorm(X), y
def control(n, rng):
    y = np.arange(n) % 6; rng.shuffle(y)
    t = np.arange(60); X = np.empty((n, 1, 60))
    for i in range(n):
        v = 30 + 2*rng.uniform(-3, 3, 60)
        k = y[i]
        if k == 1: v += rng.uniform(10, 15)*np.sin(2*np.pi*t/rng.uniform(10, 15))
        if k == 2: v += rng.uniform(0.2, 0.5)*t
        if k == 3: v -= rng.uniform(0.2, 0.5)*t
        if k in (4, 5):
            t3 = rng.uniform(20, 40); v += (1 if k == 4 else -1)*rng.uniform(7.5, 20)*(t >= t3)
        X[i, 0] = v
    return X, y
def point(n, rng):
    # like GunPoint: a hand raised and lowered; class 1 overshoots before and after the plateau
    y = np.arange(n) % 2; rng.shuffle(y)
    t = np.arange(150.); X = np.empty((n, 1, 150))
    for i in range(n):
        a = rng.uniform(30, 60); b = a + rng.uniform(40, 70); w = rng.uniform(3, 6)
        h = rng.uniform(1.5, 2.5)
        v = h/(1+np.exp(-(t-a)/w)) - h/(1+np.exp(-(t-b)/w))
        if y[i] == 1:
            d = rng.uniform(0.15, 0.3)*h
            v -= d*np.exp(-0.5*((t-(a-2.5*w))/w)**2) + d*np.exp(-0.5*((t-(b+2.5*w))/w)**2)
        X[i, 0] = v + rng.normal(0, 0.05, 150)
    return znorm(X), y
def motion(n, rng):
    # like BasicMotions: 6 channels x 100, 4 activities differing in rhythm and intensity
    y = np.arange(n) % 4; rng.shuffle(y)
    t = np.arange(100)/10.0; X = np.empty((n, 6, 100))
    for i in range(n):
        k = y[i]
        f = [0.0, 1.8, 3.0, 1.2][k]*rng.uniform(0.85, 1.15); amp = [0.05, 1.0, 2.5, 1.5][k]
        for c in range(6):
            ph = rng.uniform(0, 2*np.pi); g = rng.uniform(0.5, 1.5)
            s = amp*g*np.sin(2*np.pi*f*t + ph)
            if k == 3: s += amp*g*(rng.random(100) < 0.04)*rng.normal(0, 3, 100)
            X[i, c] = s + rng.normal(0, 0.3, 100) + (9.8 if c == 2 else 0)
    return X, y
def rotation(n, rng):
    # 2 channels tracing a circle; the class is the sense of rotation, which no channel shows alone
    y = np.arange(n) % 2; rng.shuffle(y)
    t = np.arange(150.); X = np.empty((n, 2, 150))
    for i in range(n):
        w = 2*np.pi/rng.uniform(20, 40); ph = rng.uniform(0, 2*np.pi); r = rng.uniform(0.8, 1.2)
        s = 1 if y[i] == 0 else -1
        X[i, 0] = r*np.cos(w*t+ph) + rng.normal(0, 0.2, 150)
        X[i, 1] = s*r*np.sin(w*t+ph) + rng.normal(0, 0.2, 150)
    return X, y
def gesture(n, rng, templ):
    k = len(templ); y = np.arange(n) % k; rng.shuffle(y)
    L = 1197; t = np.linspace(0, 1, L); X = np.empty((n, 6, L))
    for i in range(n):
        # a smooth random time warp and a random gain per channel
        w = np.cumsum(np.exp(0.3*np.interp(t, np.linspace(0, 1, 6), rng.normal(size=6)))); w = (w - w[0])/(w[-1]-w[0])
        for c in range(6):
            X[i, c] = rng.uniform(0.8, 1.2)*np.interp(w, t, templ[y[i]][c]) + rng.normal(0, 0.3, L)
    return X, y


def main(out):
    rng = np.random.default_rng(0)
    for name, gen, ntr, nte, k in [("CBF", cbf, 30, 900, 3), ("Control", control, 300, 300, 6), ("Point", point, 50, 150, 2), ("Motion", motion, 40, 40, 4)]:
        Xtr, ytr = gen(ntr, rng); Xte, yte = gen(nte, rng)
        write(f"{out}/{name}_TRAIN.ts", Xtr, ytr, name, k); write(f"{out}/{name}_TEST.ts", Xte, yte, name, k)
    rng = np.random.default_rng(1)
    Xtr, ytr = rotation(60, rng); Xte, yte = rotation(60, rng)
    write(f"{out}/Rotation_TRAIN.ts", Xtr, ytr, "Rotation", 2); write(f"{out}/Rotation_TEST.ts", Xte, yte, "Rotation", 2)
    rng = np.random.default_rng(2)
    t = np.linspace(0, 1, 1197)
    templ = []
    for k in range(12):
        chans = []
        for c in range(6):
            coef = rng.normal(size=8) / (1 + np.arange(8))
            chans.append(sum(coef[j]*np.sin(np.pi*(j+1)*t + rng.uniform(0, np.pi)) for j in range(8)))
        templ.append(chans)
    Xtr, ytr = gesture(108, rng, templ); Xte, yte = gesture(72, rng, templ)
    write(f"{out}/Gesture_TRAIN.ts", Xtr, ytr, "Gesture", 12); write(f"{out}/Gesture_TEST.ts", Xte, yte, "Gesture", 12)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
