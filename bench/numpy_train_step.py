#!/usr/bin/env python3
"""The training step of `diversenet bench train`, written in numpy (float32, OpenBLAS).

Same work per step: gather a minibatch of 784-d unit-norm inputs, forward
relu(X W^T) V^T, softmax cross-entropy, backward (dV, dW), Adam update of W and V.

    pip install numpy
    OPENBLAS_NUM_THREADS=2 python3 bench/numpy_train_step.py --widths 100,1000
    diversenet --threads 2 bench train --widths 100,1000

Prints samples per second per width, in the same format as the Rust benchmark.
"""
import argparse
import os
import time

import numpy as np


def adam(p, g, m, v, t, lr=1e-2, b1=0.9, b2=0.999, eps=1e-8):
    m *= b1
    m += (1 - b1) * g
    v *= b2
    v += (1 - b2) * g * g
    step = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    p -= np.float32(step) * m / (np.sqrt(v) + np.float32(eps))


def bench(width, batch, steps, dim=784, classes=10, batches=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch * batches, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(0, classes, batch * batches)
    w = rng.standard_normal((width, dim)).astype(np.float32)
    vmat = (rng.standard_normal((classes, width)) / np.sqrt(width)).astype(np.float32)
    state = [np.zeros_like(w), np.zeros_like(w), np.zeros_like(vmat), np.zeros_like(vmat)]
    order = np.arange(batch * batches)

    def step(k, t):
        idx = order[(k % batches) * batch:(k % batches + 1) * batch]
        xb = x[idx]
        yb = labels[idx]
        h = xb @ w.T
        np.maximum(h, 0, out=h)
        f = h @ vmat.T
        f -= f.max(axis=1, keepdims=True)
        np.exp(f, out=f)
        f /= f.sum(axis=1, keepdims=True)
        f[np.arange(batch), yb] -= 1
        f /= batch
        dv = f.T @ h
        dh = f @ vmat
        dh[h <= 0] = 0
        dw = dh.T @ xb
        adam(w, dw, state[0], state[1], t)
        adam(vmat, dv, state[2], state[3], t)

    warmup = max(steps // 10, 3)
    for k in range(warmup):
        step(k, k + 1)
    t0 = time.perf_counter()
    for k in range(steps):
        step(k, warmup + k + 1)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", default="100,1000")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    for width in [int(w) for w in args.widths.split(",")]:
        times = sorted(bench(width, args.batch_size, args.steps) for _ in range(args.repeats))
        median, best = times[len(times) // 2], times[0]
        print(
            f"numpy {np.__version__} train step 784 -> {width} -> 10, batch {args.batch_size}, adam f32, "
            f"{threads} threads: median {args.steps * args.batch_size / median:.0f} samples/s "
            f"({1e3 * median / args.steps:.3f} ms/step), best {args.steps * args.batch_size / best:.0f} samples/s"
        )


if __name__ == "__main__":
    main()
