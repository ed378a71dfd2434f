"""The instruments of Xie, Liang & Song, "Diverse Neural Network Learns True Target
Functions" (AISTATS 2017), on numpy arrays, for one-hidden-layer ReLU networks
f(x) = V relu(W x) without biases: W is n x d (hidden units w_k), V is c x n.

Every function calls the Rust library ``diversenet`` (the GIL is released while it
computes). Arrays may be float32 or float64 in any memory order. Bad input raises
ValueError (values, shapes, settings) or OSError (files) with the library's message;
Ctrl-C during ``train``, ``analyze``, ``smallest_singular_value``, ``kernel_matrix`` or
``kernel_lambda_min`` raises KeyboardInterrupt.
"""

import inspect as _inspect

from . import _diversenet
from ._diversenet import (
    __version__,
    analyze,
    kernel_lambda_min,
    kernel_matrix,
    l2_discrepancy,
    load_model,
    regularizer,
    save_model,
    slice_constant,
    smallest_singular_value,
    spectrum,
    train_options,
)


def train(X, y, **options):
    return _diversenet.train(X, y, **options)


def _describe_train():
    """``train``'s signature and docstring, from the library's table of training options
    (``train_options()``: the command line's ``diversenet train`` takes the same)."""
    keyword = _inspect.Parameter.KEYWORD_ONLY
    params = [
        _inspect.Parameter("X", _inspect.Parameter.POSITIONAL_OR_KEYWORD),
        _inspect.Parameter("y", _inspect.Parameter.POSITIONAL_OR_KEYWORD),
    ]
    lines = []
    for option in train_options():
        params.append(_inspect.Parameter(option["name"], keyword, default=option["default"]))
        default = option["default_text"] or repr(option["default"])
        lines.append(f"{option['name']} (default {default})\n    {option['help']}")
    for name in ("X_test", "y_test"):
        params.append(_inspect.Parameter(name, keyword, default=None))
    lines.append("X_test, y_test (default None)\n    A separate test set (then no test_fraction).")
    train.__signature__ = _inspect.Signature(params)
    train.__doc__ = (
        "Trains f(x) = V relu(W x) on X (m x d) and y (integer labels: classes; floats:\n"
        "real values) with the options of `diversenet train` (the library's table of\n"
        "training options, `train_options()`). Options that would have no effect beside the\n"
        "others are refused (ValueError). Ctrl-C stops training within about 0.1 s and\n"
        "raises KeyboardInterrupt. Returns a dict with W, V (float64), metrics (one dict per\n"
        "epoch, epoch 0 = the initial network), config, targets, input_scaling (and\n"
        "input_mean, input_scale when standardised): what save_model takes.\n\n"
        "Options:\n\n" + "\n".join(lines)
    )


_describe_train()

__all__ = [
    "analyze",
    "kernel_lambda_min",
    "kernel_matrix",
    "l2_discrepancy",
    "load_model",
    "regularizer",
    "save_model",
    "slice_constant",
    "smallest_singular_value",
    "spectrum",
    "train",
    "train_options",
]
