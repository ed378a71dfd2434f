#!/usr/bin/env python3
"""s_m(D) the numpy/LAPACK way: the Gram form D^T D = (X X^T) o (A^T A) built with BLAS and
`numpy.linalg.eigvalsh` (all eigenvalues), on random points of S^(d-1) and a random
network with v = +/-1, as `diversenet bench theory` does for its random network.

    pip install numpy
    OPENBLAS_NUM_THREADS=2 python3 bench/numpy_gram_eig.py --points 2000 --repeats 5
    diversenet --threads 2 bench theory --points 2000 --repeats 5

The figures are medians over the repeats (each builds the Gram afresh, as the Rust side does).
"""
import argparse
import os
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", default="2000")
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=784)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    rng = np.random.default_rng(0)
    for m in [int(p) for p in args.points.split(",")]:
        x = rng.standard_normal((m, args.dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        w = rng.standard_normal((args.width, args.dim))
        builds, solves = [], []
        for _ in range(max(args.repeats, 1)):
            t0 = time.perf_counter()
            a = (w @ x.T > 0).astype(np.float64)
            g = (x @ x.T) * (a.T @ a)
            t1 = time.perf_counter()
            lam = np.linalg.eigvalsh(g)
            t2 = time.perf_counter()
            builds.append(t1 - t0)
            solves.append(t2 - t1)
            del a, g
        print(
            f"numpy {np.__version__} s_m(D), m = {m}, n = {args.width}, d = {args.dim}, {threads} threads, "
            f"median of {len(solves)}: build D^T D {np.median(builds):.2f} s, eigvalsh {np.median(solves):.3f} s "
            f"(s = {np.sqrt(max(lam[0], 0)):.6e})"
        )


if __name__ == "__main__":
    main()
