"""A monitor for PyTorch training loops: every ``every`` steps it measures, on a fixed set
of probe points, the per-layer numbers of ``diversenet.analyze`` for a ReLU MLP (an
``nn.Sequential`` of ``Linear`` and ``ReLU`` modules, with or without biases)::

    mon = dnt.Monitor(model, X_probe, y_probe, every=100)
    for x, y in loader:
        ...; opt.step()
        mon.step(model)
    mon.history        # a list of dicts, one per measurement
    mon.to_pandas()    # a DataFrame (pandas installed)

Each measurement is ``diversenet.analyze(model, X_probe, y_probe, all_points=True)``
(the library reads the weights through ``state_dict()``, on the CPU, in float64): for
each layer l the smallest singular value of its eNTK block Theta_l, the L2 discrepancy of
its units' directions, its dead units (zero on every probe point) and the bound
m ||grad_l L||^2 / (2 lambda_min(Theta_l)); for the whole network lambda_min of the
empirical NTK, its bound and the squared loss. The cost of one measurement is fixed by
the probe set (at most ``max_points`` rows, its eNTK (m c) x (m c)), and it is paid once
every ``every`` steps.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

import diversenet as _dn

#: The per-layer numbers a measurement keeps, by the key of ``analyze``'s "layers".
LAYER_KEYS = {
    "s_min": "s_min",
    "lambda_min": "lambda_min",
    "bound": "bound",
    "grad_norm": "grad_norm",
    "discrepancy": "l2_discrepancy_sq",
    "discrepancy_with_bias": "l2_discrepancy_sq_with_bias",
    "dead_fraction": "dead_fraction",
}


def _as_array(a: Any, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        return a.double().numpy() if a.is_floating_point() else a.numpy()
    return np.asarray(a)


def _check_model(model: Any) -> list[nn.Linear]:
    """The Linear layers of an nn.Sequential of Linear and ReLU modules; ValueError naming
    `model` for anything else."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            f"model: expected an nn.Sequential of Linear and ReLU modules; got {type(model).__name__}")
    children = list(model.children())
    other = [type(c).__name__ for c in children if not isinstance(c, (nn.Linear, nn.ReLU))]
    if other:
        raise ValueError(
            f"model: the monitor measures ReLU MLPs (nn.Sequential of Linear and ReLU); "
            f"it has {', '.join(other)}")
    linear = [c for c in children if isinstance(c, nn.Linear)]
    if not linear:
        raise ValueError("model: no Linear layer")
    return linear


class Monitor:
    """Measures a ReLU MLP on fixed probe points every ``every`` calls of :meth:`step`.

    model
        An ``nn.Sequential`` of ``Linear`` and ``ReLU`` modules (biases or not).
    X_probe, y_probe
        The probe points (m x d, as the model takes them) and their targets (class labels
        0..c-1 or real values; None: no loss or bounds). More than ``max_points`` rows are
        reduced to a seeded sample of ``max_points`` (``probe_indices`` says which).
    every
        Measure on call 0, every, 2 every, ... of :meth:`step` (at least 1).
    ntk
        "full": the (m c) x (m c) empirical NTK (bounds for any c); "trace": m x m, summed
        over the outputs (cheaper; no bound for c > 1).
    """

    def __init__(self, model: nn.Sequential, X_probe: Any, y_probe: Any = None, *,
                 every: int = 100, max_points: int = 256, ntk: str = "full",
                 seed: int = 0) -> None:
        linear = _check_model(model)
        for name, value, least in (("every", every, 1), ("max_points", max_points, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name}={value!r}: expected a whole number of at least {least}")
        if ntk not in ("full", "trace"):
            raise ValueError(f"ntk={ntk!r}: expected 'full' or 'trace'")
        X = _as_array(X_probe, "X_probe")
        d = linear[0].in_features
        if X.ndim != 2 or X.shape[1] != d or X.shape[0] == 0:
            raise ValueError(
                f"X_probe: expected shape (m, {d}) with m >= 1 (the model's first Linear takes "
                f"{d} inputs); it has shape {X.shape}")
        y = None if y_probe is None else _as_array(y_probe, "y_probe")
        if y is not None and len(y) != X.shape[0]:
            raise ValueError(f"y_probe: {len(y)} targets for {X.shape[0]} probe points (X_probe rows)")
        self.probe_indices = None
        if X.shape[0] > max_points:
            rng = np.random.default_rng(seed)
            self.probe_indices = np.sort(rng.choice(X.shape[0], size=max_points, replace=False))
            X = X[self.probe_indices]
            y = None if y is None else y[self.probe_indices]
        self.model, self.every, self.ntk = model, int(every), ntk
        self.X_probe = np.ascontiguousarray(X, dtype=np.float64)
        self.y_probe = y
        self.steps = 0
        self.history: list[dict[str, Any]] = []

    def step(self, model: Optional[nn.Sequential] = None) -> Optional[dict[str, Any]]:
        """Counts one training step; on steps 0, every, 2 every, ... measures the model
        (the one given, else the monitor's) and returns the new row of ``history``."""
        step = self.steps
        self.steps += 1
        if step % self.every:
            return None
        return self.record(model, step=step)

    def record(self, model: Optional[nn.Sequential] = None, *, step: Optional[int] = None,
               **extra: Any) -> dict[str, Any]:
        """Measures the model now (whatever the step count) and appends the row to
        ``history``; ``extra`` values (an epoch, a test error) are kept in the row."""
        model = self.model if model is None else model
        _check_model(model)
        started = time.perf_counter()
        with torch.no_grad():
            a = _dn.analyze(model, self.X_probe, self.y_probe, all_points=True, ntk=self.ntk)
        row: dict[str, Any] = {"step": self.steps - 1 if step is None else step, **extra}
        network = a["network"]
        row["loss"] = a.get("loss")
        row["ntk_lambda_min"] = network["lambda_min"]
        row["bound"] = network.get("bound")
        row["grad_norm"] = network.get("grad_norm")
        for l, layer in enumerate(a["layers"], start=1):
            for key, source in LAYER_KEYS.items():
                row[f"{key}_{l}"] = layer.get(source)
            dead = layer.get("dead_fraction")
            row[f"dead_units_{l}"] = None if dead is None else int(round(dead * layer["width"]))
            row[f"width_{l}"] = layer["width"]
        row["layers"] = len(a["layers"])
        row["seconds"] = time.perf_counter() - started
        self.history.append(row)
        return row

    def table(self, row: Optional[dict[str, Any]] = None) -> str:
        """A measurement (the last by default) as a per-layer table for a terminal."""
        if row is None:
            if not self.history:
                return "(no measurement yet)"
            row = self.history[-1]

        def num(v: Any) -> str:
            return "-" if v is None else f"{v:.3e}"

        lines = [f"step {row['step']}: squared loss {num(row['loss'])}, NTK lambda_min "
                 f"{num(row['ntk_lambda_min'])}, bound {num(row['bound'])} "
                 f"({len(self.X_probe)} probe points, {row['seconds']:.2f} s)",
                 f"{'layer':>5} {'width':>6} {'dead':>5} {'s_min':>10} {'bound':>10} {'L2 disc^2':>10}"]
        for l in range(1, row["layers"] + 1):
            dead = row[f"dead_units_{l}"]
            lines.append(f"{l:>5} {row[f'width_{l}']:>6} {'-' if dead is None else dead:>5} "
                         f"{num(row[f's_min_{l}']):>10} {num(row[f'bound_{l}']):>10} "
                         f"{num(row[f'discrepancy_{l}']):>10}")
        return "\n".join(lines)

    def to_pandas(self) -> "pandas.DataFrame":  # noqa: F821 (pandas is imported when called)
        """``history`` as a pandas DataFrame, one row per measurement (pandas must be
        installed; it is no dependency of diversenet)."""
        try:
            import pandas
        except ImportError as e:
            raise ImportError(
                "Monitor.to_pandas needs pandas (pip install pandas); Monitor.history holds "
                "the same rows as a list of dicts") from e
        return pandas.DataFrame(self.history)
