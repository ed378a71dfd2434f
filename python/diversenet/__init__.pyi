"""Type stubs of diversenet: the instruments of Xie, Liang & Song (AISTATS 2017) for
f(x) = V relu(W x), W (n x d), V (c x n), on the rows x_i of X (m x d)."""

from os import PathLike
from typing import Any, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike
Path = Union[str, PathLike]

__version__: str

def analyze(
    W: ArrayLike,
    V: ArrayLike,
    X: ArrayLike,
    y: Optional[ArrayLike] = None,
    *,
    input_scaling: Literal["raw", "sphere", "standardise"] = "raw",
    points: Optional[int] = None,
    all_points: bool = False,
    seed: int = 0,
    monte_carlo: Optional[int] = None,
) -> dict[str, Any]:
    """s_m(D), the squared loss L, ||grad_W L||, the bound m ||grad_W L||^2 / (2 s_m(D)^2),
    lambda_min(K), ||E_W||_2, the L2 slice, hemisphere and wedge discrepancies: the keys of
    `diversenet analyze --json`. Without y, loss, grad_norm and bound are None. A seeded
    sub-sample of `points` rows unless `all_points` (default min(2000 / c, n d / c), at
    least 1: D^T D at most 2000 square, and m c <= n d so that s_m(D) is not 0 by rank
    alone; `points_used` in the result says how many rows were used). X must have at
    least one row. `monte_carlo`: samples of the Monte Carlo estimate of L2(W)^2, 2 to
    10^8, and at most 10^12 / (n d + 2500) (a few minutes; more is refused: the time
    grows with the samples and n d, and the closed form is exact); Ctrl-C stops the
    estimate within a chunk of 2048 samples, and s_m(D) and lambda_min(K) between their
    large products and solver steps, and raises KeyboardInterrupt.
    Errors about the targets name y."""

def smallest_singular_value(W: ArrayLike, V: ArrayLike, X: ArrayLike) -> float:
    """s_m(D), the m-th singular value of the extended feature matrix D (dn x m), column i
    stacking v_k 1[w_k . x_i > 0] x_i, from the Gram form (X X^T) o (A^T diag(v^2) A).
    Ctrl-C stops it between the Gram's products and the eigensolver's steps
    (KeyboardInterrupt)."""

def kernel_matrix(X: ArrayLike) -> npt.NDArray[np.float64]:
    """K_ij = <x_i, x_j> (pi - theta_ij) / (2 pi), i.e. kappa(<x_i, x_j>) on the sphere.
    Ctrl-C stops it within 256 rows (KeyboardInterrupt)."""

def kernel_lambda_min(X: ArrayLike) -> float:
    """lambda_min(K) of the kernel Gram matrix of the rows of X. Ctrl-C stops it within
    256 rows of K or one eigensolver step (KeyboardInterrupt)."""

def spectrum(dim: int, max_degree: int = 20) -> dict[str, Any]:
    """gamma_u and N(d, u) of kappa on S^(d-1) for u = 0..max_degree, with error bounds and
    the ranked eigenvalues gamma_(m): the dict of `diversenet spectrum --json`."""

def l2_discrepancy(W: ArrayLike) -> float:
    """L2(W)^2 = (1/n^2) sum_{k,l} ((pi - theta_kl)/(2 pi))^2 - c_d (closed form)."""

def slice_constant(d: int) -> float:
    """c_d = E[theta^2] / (4 pi^2) for two uniform points of S^(d-1)."""

def regularizer(
    kind: str, W: ArrayLike
) -> Tuple[float, npt.NDArray[np.float64]]:
    """R(W) and dR/dW for discrepancy, mhe[0|1|2][-angular], mma, orthogonal or weight-decay."""

def load_model(path: Path) -> dict[str, Any]:
    """W, V (float64), config (None for foreign weights), input_scaling, targets, foreign;
    input_mean and input_scale for standardised inputs."""

def save_model(
    path: Path,
    W: ArrayLike,
    V: ArrayLike,
    config: Optional[dict[str, Any]] = None,
    *,
    targets: Optional[Literal["classes", "scalar"]] = None,
    input_mean: Optional[ArrayLike] = None,
    input_scale: Optional[ArrayLike] = None,
) -> None:
    """Writes W and V (and, with config, a full diversenet model) as safetensors. Bad
    arguments raise ValueError before anything is written: a config with keys that are no
    part of a configuration (a misspelt key), W and V of other shapes than the config's,
    targets="scalar" with a cross-entropy config, and for standardised inputs an
    input_mean (finite) or input_scale (finite, > 0) that is not d values; OSError is
    for the file only."""

def train(
    X: ArrayLike,
    y: ArrayLike,
    *,
    width: int = 100,
    epochs: int = 20,
    seed: int = 0,
    optimizer: Literal["gd", "sgd", "adam"] = "adam",
    lr: float = 0.01,
    momentum: Optional[float] = None,
    lr_schedule: str = "constant",
    batch_size: Optional[int] = None,
    loss: Optional[Literal["squared", "cross-entropy"]] = None,
    output_layer: Optional[Literal["fixed", "trained"]] = None,
    input_scaling: Literal["sphere", "standardise", "raw"] = "sphere",
    precision: Literal["f32", "f64"] = "f32",
    init_scale: Optional[float] = None,
    reg: Union[str, Sequence[str], None] = None,
    lambda_: Union[float, Sequence[float], None] = None,
    weight_decay: float = 0.0,
    reg_every: Optional[int] = None,
    reg_sample: Optional[int] = None,
    exact_metrics: int = 1,
    test_fraction: Optional[float] = None,
    X_test: Optional[ArrayLike] = None,
    y_test: Optional[ArrayLike] = None,
) -> dict[str, Any]:
    """Trains f(x) = V relu(W x) with the options of `diversenet train` (the library's
    table of training options: `train_options()` lists them with their defaults and help;
    an option whose default is None is chosen from the data, or applies only beside others:
    momentum 0.9 with sgd, batch_size 128 with sgd and adam, reg_every 1 with a regulariser,
    test_fraction 0.2 without X_test); returns W, V, metrics (per epoch), config, targets
    and input_scaling. Options that would have no effect raise ValueError: `momentum`
    without optimizer="sgd", `batch_size` with "gd", `reg_every` or `reg_sample` without
    `reg` (or with none of the pairwise ones), `test_fraction` with `X_test`. Errors about
    the targets name y (y_test). Ctrl-C (SIGINT) stops training within about 0.1 s and
    raises KeyboardInterrupt."""

def train_options() -> list[dict[str, Any]]:
    """The training options `train` takes, from the library's table: a dict per option
    with its keyword `name`, its `default` (None where it is chosen from the data or
    applies only beside other options; `default_text` then says what it is) and its
    `help`."""
