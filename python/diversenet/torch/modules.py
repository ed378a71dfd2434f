"""The regularisers of :mod:`diversenet.torch.regularizers` as ``nn.Module``s holding
their options: ``reg = Diversity(); loss = ce(model(x), y) + lam * reg(model[0].weight)``.
They have no parameters or buffers; ``forward(weight)`` returns R(weight)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .regularizers import _check_mhe, _resolve, regularizer


class Regularizer(nn.Module):
    """R(weight) for a regulariser named as ``diversenet.regularizer(kind, W)`` names it
    (``discrepancy``, ``mhe[0|1|2][-angular]``, ``mma``, ``orthogonal``,
    ``weight-decay``), with the sampled estimate of K = ``sample`` partner units per unit
    for the pair sums (see :func:`diversenet.torch.diversity`). The options are checked
    here, when the module is made."""

    def __init__(
        self, kind: str, *, sample: Optional[int] = None, generator: Optional[torch.Generator] = None
    ) -> None:
        super().__init__()
        _, _, sample = _resolve(kind, sample, generator)
        self.kind = kind
        self.sample = sample
        self.generator = generator

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return regularizer(self.kind, weight, sample=self.sample, generator=self.generator)

    def extra_repr(self) -> str:
        sample = "" if self.sample is None else f", sample={self.sample}"
        return f"kind={self.kind!r}{sample}"


class Diversity(Regularizer):
    """The paper's R(W) = (1/n^2) sum_{k,l} ((pi - theta_kl)/(2 pi))^2
    (:func:`diversenet.torch.diversity`)."""

    def __init__(self, *, sample: Optional[int] = None, generator: Optional[torch.Generator] = None) -> None:
        super().__init__("discrepancy", sample=sample, generator=generator)


class MHE(Regularizer):
    """Minimum hyperspherical energy with power ``s`` (0, 1 or 2), on chordal distances
    or, ``angular``, on theta/pi (:func:`diversenet.torch.mhe`)."""

    def __init__(
        self,
        s: int = 2,
        angular: bool = False,
        *,
        sample: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        _check_mhe(s, angular)
        super().__init__(f"mhe{s}{'-angular' if angular else ''}", sample=sample, generator=generator)


class MMA(Regularizer):
    """Maximal minimal angle, -(1/n) sum_k min_{l != k} theta_kl
    (:func:`diversenet.torch.mma`)."""

    def __init__(self) -> None:
        super().__init__("mma")


class Orthogonal(Regularizer):
    """Soft orthogonality ||U U^T - I||_F^2 of the unit rows
    (:func:`diversenet.torch.orthogonal`)."""

    def __init__(self, *, sample: Optional[int] = None, generator: Optional[torch.Generator] = None) -> None:
        super().__init__("orthogonal", sample=sample, generator=generator)
