"""`analyze` for both kinds of network: the paper's f(x) = V relu(W x) given as (W, V),
and any ReLU MLP given as one object (a list of (W, b) pairs, a torch nn.Sequential of
Linear and ReLU, a state dict, or a model file). torch is never imported here."""

import os

import numpy as np

from . import _diversenet


def is_network(obj):
    """Whether `obj` is one network argument (rather than the W of a (W, V) pair): a torch
    module, a state dict, a path, or a non-empty sequence of (W, b) pairs whose W is 2-D."""
    if hasattr(obj, "state_dict") and hasattr(obj, "children"):
        return True
    if isinstance(obj, (dict, str, os.PathLike)):
        return True
    if isinstance(obj, (list, tuple)) and obj:
        return all(isinstance(p, (list, tuple)) and len(p) == 2 and np.ndim(p[0]) == 2 for p in obj)
    return False


def analyze(*args, **kwargs):
    """The theory's measurements, as `diversenet analyze --json` gives them.

    ``analyze(network, X, y=None, *, input_scaling="raw", points=None, all_points=False,
    seed=0, monte_carlo=None, ntk="full", select=None)`` for any ReLU MLP (a list of
    (W, b) pairs with W n_l x n_(l-1) and b n_l values or None, a torch nn.Sequential of
    Linear and ReLU modules, its state_dict(), or the path of a safetensors or .npz file):
    for each layer its width, dead-unit fraction, s_min of its eNTK block, ||grad_l L||,
    the bound m ||grad_l L||^2 / (2 lambda_min(Theta_l)) and L / bound, the L2 discrepancy
    of its units' directions (w_k and [w_k; b_k]) under "layers"; lambda_min, lambda_max,
    the condition number, ||grad L|| and the bound of the whole network (the layers in
    `select`, numbered from 1) under "network". `ntk="trace"` measures the m x m eNTK
    summed over outputs (no bound for c > 1). For the paper's network (one hidden layer,
    no biases) the dict also has the keys of ``analyze(W, V, X, ...)``.

    ``analyze(W, V, X, y=None, *, input_scaling="raw", points=None, all_points=False,
    seed=0, monte_carlo=None)`` for the paper's network f(x) = V relu(W x): s_m(D), the
    loss bound, lambda_min(K), ||E_W||_2 and the discrepancies (see the stubs), with the
    per-layer keys above beside them.
    """
    if args and is_network(args[0]) or "network" in kwargs:
        return _diversenet.analyze_network(*args, **kwargs)
    return _diversenet.analyze(*args, **kwargs)
