"""Type stubs of diversenet: the instruments of Xie, Liang & Song (AISTATS 2017) for
f(x) = V relu(W x), W (n x d), V (c x n), on the rows x_i of X (m x d); and the empirical
NTK of any ReLU MLP, layer by layer."""

from os import PathLike
from typing import Any, Literal, Mapping, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike
Path = Union[str, PathLike]
Network = Union[
    Sequence[Tuple[ArrayLike, Optional[ArrayLike]]],
    Mapping[str, ArrayLike],
    Path,
    Any,
]
"""A ReLU MLP h_l = relu(W_l h_(l-1) + b_l), f = W_(L+1) h_L + b_(L+1): a list of (W, b)
pairs (W: n_l x n_(l-1), outputs x inputs as in PyTorch; b: n_l values or None), a torch
``nn.Sequential`` of Linear and ReLU modules alternating (a Flatten first is accepted; read
through ``state_dict()``, torch tensors through ``.detach().cpu().double()``), a state dict
(``{"0.weight": ..., "0.bias": ..., "2.weight": ...}``), or the path of a safetensors file
(nn.Sequential names, or a diversenet model) or of a ``.npz`` of W1, b1, W2, ... Anything
else (another activation, a convolution, a normalisation layer, shapes that do not chain)
raises ValueError naming the module or tensor."""

__version__: str

@overload
def analyze(
    network: Network,
    X: ArrayLike,
    y: Optional[ArrayLike] = None,
    *,
    input_scaling: Literal["raw", "sphere", "standardise"] = "raw",
    points: Optional[int] = None,
    all_points: bool = False,
    seed: int = 0,
    monte_carlo: Optional[int] = None,
    ntk: Literal["full", "trace"] = "full",
    select: Optional[Sequence[int]] = None,
) -> dict[str, Any]:
    """Any ReLU MLP: the keys of `diversenet analyze --json` on one. "layers": per layer
    (numbered from 1, the output layer last) its width, inputs, bias, parameters,
    dead_fraction (units 0 on every point; hidden layers), lambda_min and s_min of its eNTK
    block Theta_l with the method, grad_norm ||grad_l L||, bound m ||grad_l L||^2 /
    (2 lambda_min(Theta_l)) and loss_over_bound, l2_discrepancy_sq of the directions of w_k
    and l2_discrepancy_sq_with_bias of [w_k; b_k]; "network": lambda_min, lambda_max,
    condition_number, grad_norm and bound of the sum of the blocks in `select` (numbered
    from 1; all by default). `ntk="trace"`: the m x m eNTK summed over outputs (no bound
    for c > 1: "bound_note" says why). Default points: m c (m for the trace) at most 2000
    and at most the parameter count. `monte_carlo` is for the paper's network only. For
    the paper's network (one hidden layer, no biases) the dict also has the keys of
    analyze(W, V, X), and layer 1's s_min is s_m(D)."""

@overload
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
    `diversenet analyze --json`, with the per-layer eNTK analysis of the overload above
    beside them ("layers", "network"; layer 1 is D^T D, its s_min s_m(D)). Without y,
    loss, grad_norm and bound are None. A seeded
    sub-sample of `points` rows unless `all_points` (default min(2000 / c, n d / c), at
    least 1: D^T D at most 2000 square, and m c <= n d so that s_m(D) is not 0 by rank
    alone; `points_used` in the result says how many rows were used). X must have at
    least one row. `monte_carlo`: samples of the Monte Carlo estimate of L2(W)^2, 2 to
    10^8, and at most 10^12 / (n d + 2500) (a few minutes; more is refused: the time
    grows with the samples and n d, and the closed form is exact); Ctrl-C stops the
    estimate within a chunk of 2048 samples, and s_m(D) and lambda_min(K) between their
    large products and solver steps, and raises KeyboardInterrupt.
    Errors about the targets name y."""

def ntk(
    network: Network,
    X: ArrayLike,
    *,
    outputs: Literal["full", "trace"] = "full",
    blocks: bool = False,
    select: Optional[Sequence[int]] = None,
) -> Union[npt.NDArray[np.float64], list[npt.NDArray[np.float64]]]:
    """The empirical NTK of the MLP on the rows of X (used as given), without Jacobians:
    Theta = sum_l Theta_l with Theta_l[(i,j),(i',j')] = (h~_(l-1)(x_i) . h~_(l-1)(x_i'))
    (g_l^(j)(x_i) . g_l^(j')(x_i')), h~ = [h; 1] where layer l has a bias and g_l^(j) =
    d f_j / d z_l. outputs="full": (m c) x (m c), row i c + j for sample i and output j;
    "trace": m x m, summed over the outputs. blocks=True: the list of every layer's
    Theta_l (input side first) instead of the sum; select: the layers (numbered from 1)
    summed (not with blocks=True). Memory is estimated first (ValueError with the most
    rows of X that fit); Ctrl-C stops it between panels of rows (KeyboardInterrupt)."""

def ntk_lambda_min(
    network: Network,
    X: ArrayLike,
    *,
    outputs: Literal["full", "trace"] = "full",
    select: Optional[Sequence[int]] = None,
) -> float:
    """lambda_min of the empirical NTK (the layers in `select`, numbered from 1; all by
    default) of the MLP on the rows of X, with one Gram in memory: Cholesky shift-and-invert
    block Krylov, 0 when the parameters bound the rank below the size (m c, or m for the
    trace). Ctrl-C stops it between panels and solver steps (KeyboardInterrupt)."""

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
