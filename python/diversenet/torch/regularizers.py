"""The library's diversity regularisers (PAPER.md sections 4-5) as differentiable torch
functions: the same definitions, normalisations and conventions as the Rust library's
``regularizer`` module (``diversenet.regularizer(kind, W)`` and ``train --reg``), written
in torch operations so that they run on any device and in float32 or float64, and
backpropagate with autograd.

Conventions shared by every function (they are the library's):

- The rows w_k of ``weight`` (n x d; a weight of more dimensions, such as a convolution's
  (out, in, kh, kw), is taken row by row as (out, in*kh*kw)) enter through their
  directions u_k = w_k / ||w_k||. A zero row has no direction: it is left out (n counts
  the other rows) and its gradient is 0. A row with a NaN or infinite entry makes the
  value NaN (the Python binding refuses such a W; the torch convention is to propagate).
- The cosines c_kl = u_k . u_l come from one product U U^T (O(n^2 d) work, O(n^2) memory),
  divided by the square roots of its diagonal (so that rows with the same unit vector
  get c = 1 exactly), and the angles from them as the library takes them,
  theta_kl = atan2(sqrt((1 - c)(1 + c)), c) with c clamped to [-1, 1]: exact near pi/2,
  better than arccos near 0 and pi, but starting from a rounded cosine, so that an angle
  near 0 or pi is resolved to about eps / sin(theta) (and not below sqrt(2 eps): 1.5e-8
  in float64, 5e-4 in float32), and a pair's gradient term to a relative
  eps / sin(theta)^2 (1e-6 at theta = 1e-5 from parallel in float64). Exact angles,
  2 atan2(||u - v||, ||u + v||), would need the n^2 differences of d-vectors.
- A pair whose sin(theta_kl) = ||t_kl|| (t_kl = u_l - c_kl u_k) is at most 1e-6
  (identical or antipodal rows) keeps its value but contributes no gradient: its
  direction of change is undefined, and the term the library drops has norm at most
  1/(pi n^2 ||w_k||) for ``diversity``. So gradients stay finite for identical and
  antipodal rows. ``mhe`` clamps distances below 1e-3 in the value and gives such pairs
  no gradient.
- Inside, autocast is switched off: the product U U^T runs in the weight's own dtype (a
  half-precision Gram resolves angles near 0 only to a few hundredths of a radian). TF32
  matrix products, where a user has enabled them on a GPU, round the cosines to about
  1e-3 all the same (angles near 0 to about 0.05).
"""

from __future__ import annotations

import contextlib
import math
import operator
from typing import Callable, NamedTuple, Optional

import torch

#: Pairs with sin(theta) at most this contribute no gradient (the library's SIN_THRESHOLD).
SIN_THRESHOLD = 1e-6
#: ``mhe`` clamps pair distances below this (the library's MIN_DISTANCE).
MIN_DISTANCE = 1e-3

_PI = math.pi
_DTYPES = (torch.float32, torch.float64)


class _Units(NamedTuple):
    """The unit rows of a weight with the rows that have a direction."""

    u: torch.Tensor  # n x d; rows without a direction are 0
    kept: torch.Tensor  # n, bool
    count: torch.Tensor  # number of kept rows, in the weight's dtype, at least 1


def _check_weight(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` as an n x d matrix (rows flattened), or a clear TypeError/ValueError."""
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight: expected a torch.Tensor, got {type(weight).__name__}")
    if weight.dtype not in _DTYPES:
        raise TypeError(
            f"weight: expected a float32 or float64 tensor, got {weight.dtype} "
            "(pass weight.float() for a half-precision weight)"
        )
    if weight.dim() < 2:
        raise ValueError(
            f"weight: expected a matrix of units x inputs (2 or more dimensions), "
            f"got shape {tuple(weight.shape)}"
        )
    return weight.reshape(weight.shape[0], math.prod(weight.shape[1:]))


def _check_sample(sample: Optional[int], generator: Optional[torch.Generator]) -> Optional[int]:
    """``sample`` as an int (None for the exact value), or a clear error."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    if sample is None:
        if generator is not None:
            raise ValueError("generator: given without sample (the exact value draws nothing)")
        return None
    try:
        count = None if isinstance(sample, bool) else operator.index(sample)
    except TypeError:
        count = None
    if count is None or count < 1:
        raise ValueError(
            f"sample: expected None (the exact value) or a number of partner units >= 1, got {sample!r}"
        )
    return count


def _unit_rows(w: torch.Tensor) -> _Units:
    """u_k = w_k / ||w_k|| without overflow or underflow of the squares: each row is first
    divided by its largest |entry| (held constant for autograd, which is exact since u is
    unchanged by scaling the row)."""
    largest = w.detach().abs().amax(dim=1, keepdim=True)
    kept = largest[:, 0] != 0  # NaN rows stay, to propagate
    one = torch.ones((), dtype=w.dtype, device=w.device)
    x = w / torch.where(kept[:, None], largest, one)
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    u = x / torch.where(kept[:, None], norm, one)
    count = kept.sum().to(w.dtype).clamp_min(1)
    return _Units(u, kept, count)


def _cosines(u: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """c_kl = u_k . u_l / sqrt(q_k q_l) for all pairs, with q_k = u_k . u_k the diagonal of
    the same product U U^T: dividing by it removes the normalisation's rounding, so that
    rows whose unit vectors round to the same bits get c = 1 exactly (theta = 0) and
    negated ones c = -1 (theta = pi), where the library's u_k . u_l may be off by an ulp
    and give theta ~ 1e-8."""
    gram = u @ u.T
    q = torch.where(kept, torch.diagonal(gram), torch.ones((), dtype=u.dtype, device=u.device))
    return gram / torch.sqrt(q[:, None] * q[None, :])


def _angle(c: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """theta = atan2(sqrt((1 - c)(1 + c)), c) of clamped cosines; the gradient flows only
    on the entries of ``live`` (where sin(theta) > SIN_THRESHOLD): elsewhere the cosine is
    replaced by 0 on the path autograd sees, so no 0 * inf appears in the backward pass."""
    c = c.clamp(-1.0, 1.0)
    with torch.no_grad():
        dead = torch.atan2(((1.0 - c) * (1.0 + c)).clamp_min(0.0).sqrt(), c)
    c_live = torch.where(live, c, torch.zeros_like(c))
    theta = torch.atan2(((1.0 - c_live) * (1.0 + c_live)).sqrt(), c_live)
    return torch.where(live, theta, dead)


def _clamped(c: torch.Tensor) -> torch.Tensor:
    """c clamped to [-1, 1] with the gradient of c itself, as the library differentiates
    its clamped cosines (rounding can push a Gram entry past +-1 by an ulp or so)."""
    return c + (c.detach().clamp(-1.0, 1.0) - c.detach())


def _sine(c: torch.Tensor) -> torch.Tensor:
    """sin(theta) of the (detached) cosines, as the library computes it."""
    c = c.detach().clamp(-1.0, 1.0)
    return ((1.0 - c) * (1.0 + c)).clamp_min(0.0).sqrt()


# A pair-sum regulariser is R = constant(n) + sum over ordered pairs k != l of
# term(c_kl): `terms(c, pairs, n)` gives term(c) on the entries of `pairs` and 0 elsewhere
# (half of the library's psi, which it sums over unordered pairs).
_Terms = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _discrepancy_terms(c: torch.Tensor, pairs: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    theta = _angle(c, pairs & (_sine(c) > SIN_THRESHOLD))
    volume = (_PI - theta) / (2.0 * _PI)  # of the slice {x: u_k.x >= 0, u_l.x >= 0}
    return torch.where(pairs, volume * volume / (n * n), torch.zeros_like(c))


def _discrepancy_constant(n: torch.Tensor) -> torch.Tensor:
    return 0.25 / n  # the n diagonal terms ((pi - 0)/(2 pi))^2 over n^2


def _energy(z: torch.Tensor, s: int) -> torch.Tensor:
    """f_s(z): log(1/z) for s = 0, z^(-s) otherwise."""
    if s == 0:
        return -torch.log(z)
    return 1.0 / z if s == 1 else 1.0 / (z * z)


def _mhe_terms(s: int, angular: bool) -> _Terms:
    def terms(c: torch.Tensor, pairs: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros_like(c)
        with torch.no_grad():
            sine = _sine(c)
            if angular:
                z = torch.atan2(sine, c.clamp(-1.0, 1.0)) / _PI
            else:
                z = (2.0 - 2.0 * c.clamp(-1.0, 1.0)).clamp_min(0.0).sqrt()
            live = pairs & (z >= MIN_DISTANCE)
            if angular:
                live &= sine > SIN_THRESHOLD
        if angular:
            z_live = _angle(c, live) / _PI
        else:
            c_live = torch.where(live, _clamped(c), zero)  # c = 0 keeps the dead path finite
            z_live = (2.0 - 2.0 * c_live).sqrt()
        clamped = torch.full_like(c, MIN_DISTANCE)
        energy = torch.where(
            live, _energy(torch.where(live, z_live, clamped), s), _energy(z.clamp_min(MIN_DISTANCE), s)
        )
        pair_count = (n * (n - 1.0)).clamp_min(1.0)
        return torch.where(pairs, energy / pair_count, zero)

    return terms


def _orthogonal_terms(c: torch.Tensor, pairs: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    # The library's psi'(c) = 4 clamp(c) per unordered pair, not clamp's 0 beyond +-1.
    c = _clamped(c)
    return torch.where(pairs, c * c, torch.zeros_like(c))


def _no_constant(n: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(n)


def _no_autocast(device: torch.device):
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def _pair_sum(
    weight: torch.Tensor,
    terms: _Terms,
    constant: Callable[[torch.Tensor], torch.Tensor],
    sample: Optional[int],
    generator: Optional[torch.Generator],
) -> torch.Tensor:
    sample = _check_sample(sample, generator)
    w = _check_weight(weight)
    if w.numel() == 0:
        return w.sum() * 0.0  # no unit has a direction: R = 0
    with _no_autocast(w.device):
        units = _unit_rows(w)
        if sample is None or sample >= w.shape[0]:
            return _exact_pair_sum(units, terms, constant)
        return _sampled_pair_sum(units, terms, constant, sample, generator)


def _exact_pair_sum(units: _Units, terms: _Terms, constant: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    u, kept, n = units
    c = _cosines(u, kept)
    pairs = kept[:, None] & kept[None, :]
    pairs.fill_diagonal_(False)
    value = constant(n) + terms(c, pairs, n).sum()
    return torch.where(kept.any(), value, torch.zeros_like(value))


def _sampled_pair_sum(
    units: _Units,
    terms: _Terms,
    constant: Callable[[torch.Tensor], torch.Tensor],
    sample: int,
    generator: Optional[torch.Generator],
) -> torch.Tensor:
    """The library's ``--reg-sample`` estimator: K partner units P drawn uniformly without
    replacement from the rows with a direction; every unit sums its pair terms over its
    partners in P (not itself), weighted n/K (Horvitz-Thompson)."""
    u, kept, _ = units
    rows = torch.nonzero(kept).flatten()  # the one host synchronisation
    n = rows.numel()
    if n == 0:
        return u.sum() * 0.0
    device = generator.device if generator is not None else u.device
    draw = torch.randperm(n, generator=generator, device=device)[: min(sample, n)]
    partners = rows[draw.to(u.device)]
    # Partners held fixed: the backward pass gives unit k the estimate
    # (n/K) sum_{l in P} psi'(c_kl) dc_kl/dw_k, the library's, and no partner a share of
    # the others' terms. c_kl as in _cosines, with q_k = u_k . u_k summed on its own.
    q = torch.where(kept, (u * u).sum(dim=1), torch.ones((), dtype=u.dtype, device=u.device))
    c = (u @ u[partners].detach().T) / torch.sqrt(q[:, None] * q[partners].detach()[None, :])  # n x K
    pairs = kept[:, None] & (partners[None, :] != torch.arange(u.shape[0], device=u.device)[:, None])
    count = torch.tensor(float(n), dtype=u.dtype, device=u.device)
    weight = n / partners.numel()
    total = weight * terms(c, pairs, count).sum()
    # Value: constant + the weighted sum (each sampled ordered pair once); gradient:
    # that of 2 x the sum (each unordered pair's psi = 2 terms, seen from unit k only).
    return constant(count) + total.detach() + 2.0 * (total - total.detach())


def diversity(
    weight: torch.Tensor, *, sample: Optional[int] = None, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """The paper's diversity regulariser (Xie, Liang & Song 2017; PAPER.md section 4),

        R(W) = (1/n^2) sum_{k,l} ((pi - theta_kl)/(2 pi))^2,

    the sum over all ordered pairs of the n rows with a direction, k = l included (each
    diagonal term is 1/4); R = L2(W)^2 + c_d, the squared slice discrepancy of the units'
    directions plus a constant of the dimension. It is scale-free, lies in [1/(4n), 1/4],
    and its gradient

        dR/dw_k = (1/(pi^2 n^2 ||w_k||)) sum_{l != k} (pi - theta_kl) t_kl / ||t_kl||,
        t_kl = u_l - c_kl u_k,

    is orthogonal to w_k and pushes the units apart. The library's ``discrepancy``
    (``diversenet.regularizer("discrepancy", W)``, ``train --reg discrepancy``).

    ``sample=K`` (an int >= 1) gives instead the library's unbiased ``--reg-sample K``
    estimate at O(n K d): K partner units drawn afresh on each call, uniformly without
    replacement from the rows with a direction (``torch.randperm`` on ``generator``'s
    device, or on the weight's with the global generator when ``generator`` is None); each
    unit sums its pair terms over its partners (itself excluded), weighted n/K. The value
    is an unbiased estimate of R; the gradient that backward gives is the library's
    estimate, each unit's with its partners held fixed (also unbiased, though not the
    derivative of the returned value: no partner receives the gradient of the other units'
    terms with it). With K >= the number of rows, nothing is drawn and the value is exact;
    with K >= the number of rows with a direction, the sample covers every partner and the
    estimate equals R up to rounding. The draws come from torch's generators, not the
    library's ChaCha stream: the same seed gives the same partners as another call here,
    not as ``diversenet train``.

    A tensor of the weight's dtype and device, with shape (); see the module's docstring
    for zero rows, identical and antipodal rows, and accuracy.
    """
    return _pair_sum(weight, _discrepancy_terms, _discrepancy_constant, sample, generator)


def _check_mhe(s: int, angular: bool) -> None:
    if isinstance(s, bool) or s not in (0, 1, 2):
        raise ValueError(f"s: the MHE power must be 0, 1 or 2, got {s!r}")
    if not isinstance(angular, bool):
        raise TypeError(f"angular: expected True or False, got {angular!r}")


def mhe(
    weight: torch.Tensor,
    s: int = 2,
    angular: bool = False,
    *,
    sample: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Minimum hyperspherical energy (Liu et al., NeurIPS 2018), the library's
    ``mhe{s}[-angular]``: the mean over ordered pairs k != l of the rows with a direction,

        R(W) = (1/(n (n - 1))) sum_{k != l} f_s(z_kl),   f_0(z) = log(1/z), f_s(z) = z^(-s),

    with z_kl = ||u_k - u_l|| = sqrt(2 - 2 c_kl), or theta_kl / pi when ``angular``. A
    distance below 1e-3 is clamped to 1e-3 in the value (identical rows would have infinite
    energy) and that pair gives no gradient; an angular pair with sin(theta) <= 1e-6
    (antipodal rows) gives none either. 0 for fewer than two rows with a direction.
    ``sample`` and ``generator`` as in :func:`diversity`.
    """
    _check_mhe(s, angular)
    return _pair_sum(weight, _mhe_terms(s, angular), _no_constant, sample, generator)


def orthogonal(
    weight: torch.Tensor, *, sample: Optional[int] = None, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Soft orthogonality (Bansal et al., NeurIPS 2018), the library's ``orthogonal``:
    ||U U^T - I||_F^2 = sum_{k != l} c_kl^2 over the unit rows U of the rows with a
    direction (the diagonal is 0 by construction; no normalisation by n). Cosines are
    clamped to [-1, 1]. ``sample`` and ``generator`` as in :func:`diversity`.
    """
    return _pair_sum(weight, _orthogonal_terms, _no_constant, sample, generator)


def mma(weight: torch.Tensor) -> torch.Tensor:
    """Maximal minimal angle (Wang et al., NeurIPS 2020), the library's ``mma``:

        R(W) = -(1/n) sum_k min_{l != k} theta_kl

    over the n rows with a direction (0 with fewer than two). Each unit's nearest partner
    is the one with the largest cosine, the first such partner on ties (the library's
    choice); the gradient flows through that pair only, and not at all where its
    sin(theta) <= 1e-6. Among copies of a row whose cosines tie only up to rounding, the
    last bits decide which copy is the minimum and receives its gradient (the minimum is
    not differentiable there; the value does not depend on it). A minimum, not a sum over
    pairs: it has no sampled estimate.
    """
    w = _check_weight(weight)
    if w.numel() == 0:
        return w.sum() * 0.0
    with _no_autocast(w.device):
        u, kept, n = _unit_rows(w)
        c = _cosines(u, kept)
        pairs = kept[:, None] & kept[None, :]
        pairs.fill_diagonal_(False)
        with torch.no_grad():
            candidates = torch.where(pairs, c, torch.full_like(c, -math.inf))
            nearest = candidates.argmax(dim=1, keepdim=True)  # first maximum on ties
        has_partner = pairs.any(dim=1)
        c_near = c.gather(1, nearest)[:, 0]
        theta = _angle(c_near, has_partner & (_sine(c_near) > SIN_THRESHOLD))
        return -torch.where(has_partner, theta, torch.zeros_like(theta)).sum() / n


def weight_decay(weight: torch.Tensor) -> torch.Tensor:
    """||W||_F^2, the library's ``weight-decay`` (the sum of squares, not halved)."""
    w = _check_weight(weight)
    return (w * w).sum()


def _parse_kind(kind: str):
    """The function and fixed arguments of a library regulariser name."""
    if not isinstance(kind, str):
        raise TypeError(f"kind: expected a regulariser name (str), got {type(kind).__name__}")
    simple = {"discrepancy": diversity, "mma": mma, "orthogonal": orthogonal, "weight-decay": weight_decay}
    if kind in simple:
        return simple[kind], {}
    if kind.startswith("mhe"):
        rest = kind[3:]
        angular = rest.endswith("-angular")
        power = rest[: -len("-angular")] if angular else rest
        if power in ("", "0", "1", "2"):
            return mhe, {"s": int(power or 2), "angular": angular}
        raise ValueError(f"kind: `{kind}`: the MHE power must be 0, 1 or 2")
    raise ValueError(
        f"kind: `{kind}`: expected discrepancy, mhe[0|1|2][-angular], mma, orthogonal or weight-decay"
    )


def _resolve(kind: str, sample: Optional[int], generator: Optional[torch.Generator]):
    """The function of a library regulariser name, its fixed arguments and the checked
    ``sample``, or a clear error."""
    function, options = _parse_kind(kind)
    sample = _check_sample(sample, generator)
    if sample is not None and function in (mma, weight_decay):
        raise ValueError(f"sample: `{kind}` is not a sum over pairs of units and has no sampled estimate")
    return function, options, sample


def regularizer(
    kind: str, weight: torch.Tensor, *, sample: Optional[int] = None, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """R(W) for a regulariser named as ``diversenet.regularizer(kind, W)`` and
    ``train --reg`` name it: ``discrepancy`` (:func:`diversity`), ``mhe``, ``mhe0``,
    ``mhe1``, ``mhe2`` and their ``-angular`` variants (:func:`mhe`; ``mhe`` is s = 2),
    ``mma``, ``orthogonal``, ``weight-decay``. ``sample`` (see :func:`diversity`) applies
    to the pair sums only: given for ``mma`` or ``weight-decay``, it raises ValueError.
    """
    function, options, sample = _resolve(kind, sample, generator)
    if function in (mma, weight_decay):
        return function(weight)
    return function(weight, sample=sample, generator=generator, **options)
