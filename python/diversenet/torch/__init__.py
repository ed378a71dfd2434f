"""diversenet in PyTorch training loops: the library's regularisers as differentiable
torch functions and modules, on any device, in float32 or float64.

    import diversenet.torch as dnt
    loss = ce(model(x), y) + lam * dnt.diversity(model[0].weight)

Importing this submodule imports torch; ``import diversenet`` alone never does (torch is
not a dependency of the package).
"""

from .modules import MHE, MMA, Diversity, Orthogonal, Regularizer
from .regularizers import (
    MIN_DISTANCE,
    SIN_THRESHOLD,
    diversity,
    mhe,
    mma,
    orthogonal,
    regularizer,
    weight_decay,
)

__all__ = [
    "MHE",
    "MIN_DISTANCE",
    "MMA",
    "SIN_THRESHOLD",
    "Diversity",
    "Orthogonal",
    "Regularizer",
    "diversity",
    "mhe",
    "mma",
    "orthogonal",
    "regularizer",
    "weight_decay",
]
