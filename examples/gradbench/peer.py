"""gradbench's peer: one torchdiffeq gradient on gradbench's problem.

Run by `go run ./examples/gradbench -peer` (which embeds this file), one
configuration per process so that the peak resident set is its own:

    python3 peer.py probe
    python3 peer.py run METHOD STEPS REPEATS

METHOD is forward (the solve alone, no graph), backprop (torchdiffeq.odeint,
autograd through the solver) or adjoint (torchdiffeq.odeint_adjoint). The
problem is revode's gradbench field, f(t, y) = tanh(y W1 + t w + b1) W2 + b2
with D = 32, H = 64, batch 128, float64, t in [0, 1], STEPS fixed RK4 steps,
the loss a fixed linear functional of y(1) (the same y0 and weights of the
functional as gradbench's Go side), on one thread.

Prints one JSON object: the median and every timed run in seconds, the
process's peak resident set (VmHWM) and its resident set before the first
gradient, in bytes. `probe` prints the versions, or exits 3 with the reason
when PyTorch or torchdiffeq cannot be imported.
"""
import json
import math
import statistics
import sys
import time

BATCH, DIM, HIDDEN = 128, 32, 64


def status_bytes(key):
    """A VmXXX line of /proc/self/status, in bytes (0 where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def probe():
    try:
        import torch
        import torchdiffeq
    except Exception as e:  # ImportError, or a broken install
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        sys.exit(3)
    print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__,
                      "torchdiffeq": getattr(torchdiffeq, "__version__", "?")}))


def run(method, steps, repeats):
    import torch
    import torchdiffeq

    torch.set_num_threads(1)
    torch.manual_seed(42)
    dt = torch.float64

    class Field(torch.nn.Module):
        """tanh(y W1 + t w + b1) W2 + b2, weights scaled as gradbench's."""

        def __init__(self):
            super().__init__()
            self.w1 = torch.nn.Parameter(torch.randn(DIM, HIDDEN, dtype=dt) / math.sqrt(DIM + 1))
            self.wt = torch.nn.Parameter(torch.randn(HIDDEN, dtype=dt) / math.sqrt(DIM + 1))
            self.b1 = torch.nn.Parameter(0.1 * torch.randn(HIDDEN, dtype=dt))
            self.w2 = torch.nn.Parameter(torch.randn(HIDDEN, DIM, dtype=dt) / math.sqrt(HIDDEN))
            self.b2 = torch.nn.Parameter(0.1 * torch.randn(DIM, dtype=dt))
            self.evals = 0

        def forward(self, t, y):
            self.evals += 1
            h = torch.tanh(torch.addmm(self.b1 + t * self.wt, y, self.w1))
            return torch.addmm(self.b2, h, self.w2)

    f = Field()
    n = BATCH * DIM
    idx = torch.arange(n, dtype=dt)
    y0 = (0.8 * torch.sin(0.37 * idx)).reshape(BATCH, DIM)
    w = (torch.cos(0.11 * idx) / BATCH).reshape(BATCH, DIM)
    ts = torch.tensor([0.0, 1.0], dtype=dt)
    opts = dict(step_size=1.0 / steps)
    params = [y0] + list(f.parameters())

    def once():
        if method == "forward":
            with torch.no_grad():
                y1 = torchdiffeq.odeint(f, y0, ts, method="rk4", options=opts)[-1]
            return float((w * y1).sum())
        y0.requires_grad_(True)
        if method == "adjoint":
            ys = torchdiffeq.odeint_adjoint(f, y0, ts, method="rk4", options=opts,
                                            adjoint_method="rk4", adjoint_options=opts)
        elif method == "backprop":
            ys = torchdiffeq.odeint(f, y0, ts, method="rk4", options=opts)
        else:
            raise SystemExit("unknown method %r" % method)
        loss = (w * ys[-1]).sum()
        grads = torch.autograd.grad(loss, params)
        y0.requires_grad_(False)
        return float(sum(g.norm() ** 2 for g in grads).sqrt())

    base = status_bytes("VmRSS")
    f.evals = 0
    check = once()  # warm-up, and the count of evaluations of f
    evals = f.evals
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    print(json.dumps({
        "peer": "torchdiffeq", "method": method, "steps": steps, "batch": BATCH,
        "seconds": statistics.median(times), "all_seconds": times,
        "peak_rss": status_bytes("VmHWM"), "base_rss": base,
        "func_evals": evals, "check": check,
        "torch": torch.__version__, "torchdiffeq": getattr(torchdiffeq, "__version__", "?"),
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "probe":
        probe()
    elif len(sys.argv) == 5 and sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
