#!/usr/bin/env python3
"""lambda_min of the empirical NTK the torch.func way, on the network and the points that
`diversenet bench ntk` wrote (a 784-100-100-10 nn.Sequential with biases by default):
per-sample Jacobians with vmap(jacrev(functional_call)), contracted with einsum into the
full (m c) x (m c) eNTK or its m x m trace over outputs, then torch.linalg.eigvalsh. One
run per size, as the Rust side does.

    diversenet --threads 2 bench ntk --points 1000,2000 --out ntk-bench
    python3 bench/torch_ntk.py ntk-bench --points 1000,2000 --threads 2

Before each run the memory it needs is estimated (the Jacobian, m c x P values, and three
matrices of the eNTK's size: the einsum's result, the running sum, eigvalsh's copy); a
run above --max-memory (default 80% of MemAvailable) is not started, and the line says
how much it would need. Compare the printed lambda_min with diversenet's.
"""
import argparse
import time

import numpy as np
import torch
from safetensors.torch import load_file
from torch.func import functional_call, jacrev, vmap


def available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 8e9


def sequential(state, dtype):
    """The nn.Sequential of Linear and ReLU whose state dict is `state`."""
    indices = sorted({int(k.split(".")[0]) for k in state})
    modules = []
    for i in indices:
        w = state[f"{i}.weight"]
        if modules:
            modules.append(torch.nn.ReLU())
        modules.append(torch.nn.Linear(w.shape[1], w.shape[0], bias=f"{i}.bias" in state))
    model = torch.nn.Sequential(*modules).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()})
    return model


def entk(model, x, form):
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(f), (None, 0))(params, x)
    m, c = x.shape[0], model[-1].out_features
    theta = None
    for J in jac.values():
        J = J.reshape(m, c, -1)
        if form == "full":
            block = torch.einsum("ajp,bkp->ajbk", J, J).reshape(m * c, m * c)
        else:
            block = torch.einsum("ajp,bjp->ab", J, J)
        theta = block if theta is None else theta + block
    return theta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inputs", help="the --out directory of `diversenet bench ntk`")
    ap.add_argument("--points", default="1000,2000")
    ap.add_argument("--forms", default="trace,full")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                    help="float64 is diversenet's precision")
    ap.add_argument("--max-memory", type=float, default=None, help="bytes (default 80%% of MemAvailable)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    model = sequential(load_file(f"{args.inputs}/mlp.safetensors"), dtype)
    points = torch.from_numpy(np.load(f"{args.inputs}/points.npy")).to(dtype)
    budget = args.max_memory or 0.8 * available_bytes()
    params = sum(p.numel() for p in model.parameters())
    c = model[-1].out_features
    widths = "-".join(str(w) for w in [model[0].in_features] + [l.out_features for l in model if hasattr(l, "out_features")])
    size_of = torch.tensor([], dtype=dtype).element_size()
    for m in [int(p) for p in args.points.split(",")]:
        x = points[:m]
        for form in args.forms.split(","):
            n = m * c if form == "full" else m
            need = m * c * params * size_of + 3 * n * n * size_of
            head = (f"torch {torch.__version__} torch.func eNTK lambda_min, {widths} MLP with biases ({params} "
                    f"parameters), m = {m}, {form} ({n} x {n}), {args.threads} threads, {args.dtype}")
            if need > budget:
                print(f"{head}: not run: it would need about {need / 1e9:.1f} GB (the Jacobian, {m * c} x {params} "
                      f"values, {m * c * params * size_of / 1e9:.1f} GB), more than {budget / 1e9:.1f} GB")
                continue
            t0 = time.perf_counter()
            theta = entk(model, x, form)
            t1 = time.perf_counter()
            lam = torch.linalg.eigvalsh(theta)[0].item()
            t2 = time.perf_counter()
            print(f"{head}: {t2 - t0:.3f} s (Jacobians and einsum {t1 - t0:.3f} s, eigvalsh {t2 - t1:.3f} s), "
                  f"lambda_min = {lam:.6e}")
            del theta


if __name__ == "__main__":
    main()
