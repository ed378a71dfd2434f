"""The instruments of Xie, Liang & Song, "Diverse Neural Network Learns True Target
Functions" (AISTATS 2017), on numpy arrays, for one-hidden-layer ReLU networks
f(x) = V relu(W x) without biases: W is n x d (hidden units w_k), V is c x n; and for any
ReLU MLP with biases (a list of (W, b) pairs, a torch nn.Sequential of Linear and ReLU,
a state dict or a model file), the empirical NTK layer by layer without Jacobians
(``ntk``, ``ntk_lambda_min``, ``analyze``). torch is imported only by torch objects
handed over.

Every function calls the Rust library ``diversenet`` (the GIL is released while it
computes). Arrays may be float32 or float64 in any memory order. Bad input raises
ValueError (values, shapes, settings) or OSError (files) with the library's message;
Ctrl-C during ``train``, ``analyze``, ``smallest_singular_value``, ``kernel_matrix``,
``kernel_lambda_min``, ``ntk`` or ``ntk_lambda_min`` raises KeyboardInterrupt.
"""

from ._diversenet import (
    __version__,
    kernel_lambda_min,
    kernel_matrix,
    l2_discrepancy,
    load_model,
    ntk,
    ntk_lambda_min,
    regularizer,
    save_model,
    slice_constant,
    smallest_singular_value,
    spectrum,
    train,
)
from ._network import analyze

__all__ = [
    "analyze",
    "kernel_lambda_min",
    "kernel_matrix",
    "l2_discrepancy",
    "load_model",
    "ntk",
    "ntk_lambda_min",
    "regularizer",
    "save_model",
    "slice_constant",
    "smallest_singular_value",
    "spectrum",
    "train",
]
