"""diversenet.torch's regularisers: values and autograd gradients against the Rust
library's (diversenet.regularizer) to 1e-10 in float64, against numpy closed forms with
exact angles, torch.autograd.gradcheck, float32, the sampled estimate (reproducible,
unbiased, the library's estimator pair by pair), errors, and a training loop."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import diversenet as dn
import diversenet.torch as dnt

PAIR_SUMS = ["discrepancy", "mhe0", "mhe1", "mhe2", "mhe0-angular", "mhe1-angular", "mhe2-angular", "orthogonal"]
KINDS = PAIR_SUMS + ["mma", "weight-decay"]
TOL = 1e-10


def call(kind, weight, **options):
    """The named function of diversenet.torch, called as a user would."""
    if kind == "discrepancy":
        return dnt.diversity(weight, **options)
    if kind.startswith("mhe"):
        power = kind[3:].replace("-angular", "")
        return dnt.mhe(weight, int(power or 2), kind.endswith("-angular"), **options)
    return {"mma": dnt.mma, "orthogonal": dnt.orthogonal, "weight-decay": dnt.weight_decay}[kind](weight, **options)


def value_and_grad(kind, W, **options):
    w = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    value = call(kind, w, **options)
    (grad,) = torch.autograd.grad(value, w, allow_unused=True)
    return value.item(), (torch.zeros_like(w) if grad is None else grad).numpy()


def unit(rng, d):
    x = rng.normal(size=d)
    return x / np.linalg.norm(x)


def rotated(u, v, angle):
    """The unit vector at `angle` from u in the plane of u and v."""
    t = v - (u @ v) * u
    t /= np.linalg.norm(t)
    return math.cos(angle) * u + math.sin(angle) * t


def weight_cases():
    """Weights on which the library's cosine-based angles are accurate to 1e-10 in the
    value and gradient: random rows, rows 1e-3 from parallel or antipodal, exact copies
    (unit rows that round to the same bits), zero rows, tiny and huge rows."""
    rng = np.random.default_rng(2017)
    n, d = 9, 5
    random = rng.normal(size=(n, d))
    near = random.copy()
    u, v = unit(rng, d), unit(rng, d)
    near[1] = 2.0 * rotated(u, v, 1e-3)
    near[2] = 0.5 * u
    near[4] = -3.0 * rotated(u, v, 2e-3)  # 2e-3 from antipodal to u
    near[6] = 1.5 * rotated(-u, v, 5e-3)
    identical = random.copy()
    identical[3] = 4.0 * identical[0]  # the same direction, another norm
    identical[5] = identical[0]
    identical[7] = [1.0, 1.0, 1.0, 1.0, 0.0]  # unit rows exactly representable
    identical[8] = [3.0, 3.0, 3.0, 3.0, 0.0]
    antipodal = random.copy()
    antipodal[2] = -antipodal[0]
    antipodal[6] = -2.0 * antipodal[4]
    antipodal[8] = [0.0, -2.0, 0.0, 0.0, 0.0]
    antipodal[7] = [0.0, 0.5, 0.0, 0.0, 0.0]
    zero = random.copy()
    zero[[1, 4]] = 0.0
    tiny_huge = random.copy()
    tiny_huge[0] *= 1e-200
    tiny_huge[3] *= 1e200
    return {
        "random": random,
        "near-parallel": near,
        "identical": identical,
        "antipodal": antipodal,
        "zero rows": zero,
        "tiny and huge rows": tiny_huge,
        "two rows": random[:2],
        "one row": random[:1],
        "all zero": np.zeros((4, d)),
    }


def rounding_limited_case():
    """Rows 1e-5 from parallel and from antipodal, 1e-7 from parallel (no gradient: sin
    below 1e-6), and copies whose unit rows differ in the last bits: where angles from
    rounded cosines resolve theta only to about 1e-16 / sin(theta)."""
    rng = np.random.default_rng(31)
    W = rng.normal(size=(10, 6))
    u, v = unit(rng, 6), unit(rng, 6)
    W[0], W[1] = u, 1.7 * rotated(u, v, 1e-5)
    W[2], W[3] = -0.6 * rotated(u, v, 3e-3), 2.5 * rotated(u, v, 3e-3 + 1e-5)  # pi - 1e-5 apart
    W[4] = 0.3 * rotated(W[5] / np.linalg.norm(W[5]), v, 1e-7)
    W[6], W[8] = 3.0 * W[7], -1.3 * W[9]
    return W
CASES = weight_cases()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("kind", KINDS)
def test_value_and_gradient_match_the_library_in_float64(kind, case):
    W = CASES[case]
    value, grad = value_and_grad(kind, W)
    want_value, want_grad = dn.regularizer(kind, W)
    # (weight decay of the 1e200 row: inf in both)
    assert value == want_value or abs(value - want_value) <= TOL * max(1.0, abs(want_value)), (value, want_value)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=TOL * max(1.0, np.abs(want_grad).max()))


@pytest.mark.parametrize("kind", KINDS + ["mhe", "mhe-angular"])
def test_regularizer_by_name_is_the_named_function(kind):
    W = torch.tensor(CASES["random"])
    want = dn.regularizer(kind, CASES["random"])[0]
    assert abs(dnt.regularizer(kind, W).item() - want) <= TOL
    module = dnt.Regularizer(kind)
    assert abs(module(W).item() - want) <= TOL and kind in repr(module)


def test_the_names_are_the_librarys():
    # The list of kinds in the error is the library's: a kind added there shows up here.
    W = CASES["random"]
    with pytest.raises(ValueError) as library:
        dn.regularizer("nope", W)
    with pytest.raises(ValueError) as ours:
        dnt.regularizer("nope", torch.tensor(W))
    assert str(library.value).split("`nope`: ")[1] == str(ours.value).split("`nope`: ")[1]


def test_modules_hold_their_options():
    W = torch.tensor(CASES["random"])
    assert torch.equal(dnt.Diversity()(W), dnt.diversity(W))
    assert torch.equal(dnt.MHE(0, angular=True)(W), dnt.mhe(W, 0, True))
    assert torch.equal(dnt.MMA()(W), dnt.mma(W))
    assert torch.equal(dnt.Orthogonal()(W), dnt.orthogonal(W))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(dnt.Diversity(sample=2, generator=g1)(W), dnt.diversity(W, sample=2, generator=g2))
    module = dnt.MHE(1, sample=4)
    assert repr(module) == "MHE(kind='mhe1', sample=4)"
    assert list(module.parameters()) == [] and module.state_dict() == {}


def pair_functions(kind, theta, n):
    """phi(theta) of each ordered pair, d phi/d theta, the constant, and the extra condition for a gradient."""
    pairs = max(n * (n - 1), 1)
    if kind == "discrepancy":
        return ((np.pi - theta) / (2 * np.pi)) ** 2 / n**2, -(np.pi - theta) / (2 * np.pi**2 * n**2), 0.25 / n, np.sin(theta) > 1e-6
    if kind == "orthogonal":
        return np.cos(theta) ** 2, -np.sin(2 * theta), 0.0, np.ones_like(theta, bool)
    s = int(kind[3]) if kind[3:4].isdigit() else 2
    angular = kind.endswith("-angular")
    z = theta / np.pi if angular else 2 * np.sin(theta / 2)
    dz = np.full_like(theta, 1 / np.pi) if angular else np.cos(theta / 2)
    zc = np.maximum(z, 1e-3)
    f = -np.log(zc) if s == 0 else zc ** -s
    df = -1 / zc if s == 0 else -s * zc ** (-s - 1)
    live = (z >= 1e-3) & ((np.sin(theta) > 1e-6) if angular else True)
    return f / pairs, df * dz / pairs, 0.0, live

def exact_reference(kind, W):
    largest = np.abs(W).max(axis=1, initial=0.0)
    kept = np.flatnonzero(largest > 0)
    norms = np.zeros(len(W))
    norms[kept] = largest[kept] * np.linalg.norm(W[kept] / largest[kept, None], axis=1)
    n = len(kept)
    grad = np.zeros_like(W)
    if n == 0:
        return 0.0, grad
    U = W[kept] / norms[kept, None]
    minus, plus = U[None] - U[:, None], U[None] + U[:, None]   # [k, l] = u_l -+ u_k
    theta = 2 * np.arctan2(np.linalg.norm(minus, axis=2), np.linalg.norm(plus, axis=2))
    # t_kl = u_l - cos(theta) u_k, without cancellation: (u_l - u_k) + 2 sin^2(theta/2) u_k
    # or (u_l + u_k) - 2 cos^2(theta/2) u_k.
    T = np.where((theta < np.pi / 2)[..., None],
                 minus + (2 * np.sin(theta / 2) ** 2)[..., None] * U[:, None],
                 plus - (2 * np.cos(theta / 2) ** 2)[..., None] * U[:, None])
    length = np.linalg.norm(T, axis=2, keepdims=True)
    unit_t = np.divide(T, length, out=np.zeros_like(T), where=length > 0)
    off = ~np.eye(n, dtype=bool)
    if kind == "mma":
        if n < 2:
            return 0.0, grad
        near = np.argmin(np.where(off, theta, np.inf), axis=1)
        value = -theta[np.arange(n), near].sum() / n
        g = np.zeros_like(U)
        for k, l in enumerate(near):
            if np.sin(theta[k, l]) > 1e-6:   # d(-theta_kl/n) = (t_kl/|t_kl|) . du_k / n, likewise for l
                g[k] += unit_t[k, l] / n
                g[l] += unit_t[l, k] / n
    else:
        phi, dphi, const, live = pair_functions(kind, theta, n)
        value = const + phi[off].sum()
        dphi = np.where(off & live, dphi, 0.0)
        g = -2 * (dphi[..., None] * unit_t).sum(axis=1)
    grad[kept] = g / norms[kept, None]
    return value, grad


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("kind", KINDS[:-1])
def test_value_and_gradient_match_exact_angles(kind, case):
    W = CASES[case]
    value, grad = value_and_grad(kind, W)
    want_value, want_grad = exact_reference(kind, W)
    assert abs(value - want_value) <= TOL * max(1.0, abs(want_value))
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=TOL * max(1.0, np.abs(want_grad).max()))


@pytest.mark.parametrize("kind", KINDS[:-1])
def test_angles_from_cosines_resolve_theta_to_about_eps_over_sin_theta(kind):
    # Pairs 1e-5 from parallel or antipodal: a pair's gradient term is good to about
    # 1e-16 / sin(theta)^2 relative, 1e-6 here, in torch and in the library alike.
    W = rounding_limited_case()
    value, grad = value_and_grad(kind, W)
    want_value, want_grad = exact_reference(kind, W)
    library_value, library_grad = dn.regularizer(kind, W)
    for v in [value, library_value]:
        assert abs(v - want_value) <= 1e-9 * max(1.0, abs(want_value))
    if kind == "mma":
        # Copies whose cosines tie up to rounding: which one's angle is the minimum, and
        # so which copy receives its gradient, depends on the last bits (not the value).
        assert np.all(np.isfinite(grad))
        return
    scale = max(1.0, np.abs(want_grad).max())
    for g in [grad, library_grad]:
        np.testing.assert_allclose(g, want_grad, rtol=0, atol=1e-6 * scale)


def test_discrepancy_is_the_slice_discrepancy_plus_c_d():
    W = CASES["random"]
    want = dn.l2_discrepancy(W) + dn.slice_constant(W.shape[1])
    assert abs(dnt.diversity(torch.tensor(W)).item() - want) <= 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_in_float64(kind):
    w = torch.tensor(CASES["random"][:6, :4], requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: dnt.regularizer(kind, x), (w,), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_second_derivatives_of_diversity_exist_and_check():
    w = torch.tensor(CASES["random"][:5, :3], requires_grad=True)
    assert torch.autograd.gradgradcheck(dnt.diversity, (w,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_runs_in_float32_and_stays_close(kind):
    W = CASES["zero rows"]
    w32 = torch.tensor(W, dtype=torch.float32, requires_grad=True)
    value = call(kind, w32)
    value.backward()
    assert value.dtype == torch.float32 and w32.grad.dtype == torch.float32
    want_value, want_grad = dn.regularizer(kind, W)
    assert abs(value.item() - want_value) <= 1e-5 * max(1.0, abs(want_value))
    scale = max(1.0, np.abs(want_grad).max())
    np.testing.assert_allclose(w32.grad.numpy(), want_grad, rtol=0, atol=2e-5 * scale)


class OpLog(TorchFunctionMode):
    """Every torch function called, and the dtypes of the tensors it returns."""

    def __init__(self):
        super().__init__()
        self.names, self.dtypes = [], set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.names.append(getattr(func, "__name__", str(func)))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.dtypes.add(t.dtype)
        return out


@pytest.mark.parametrize("kind", KINDS)
def test_float32_weights_are_never_cast_or_read_back_to_the_host(kind):
    w = torch.tensor(CASES["zero rows"], dtype=torch.float32, requires_grad=True)
    with OpLog() as log:
        call(kind, w).backward()
        if kind in PAIR_SUMS:
            call(kind, w, sample=3, generator=seeded(0)).backward()
    assert torch.float64 not in log.dtypes, log.dtypes
    assert not {"cpu", "numpy", "item", "tolist", "double"} & set(log.names), log.names


@pytest.mark.parametrize("kind", KINDS)
def test_exact_path_runs_on_the_meta_device_with_no_values_at_hand(kind):
    # A tensor on "meta" has a shape and no data: any host read-back would fail.
    w = torch.empty(7, 3, device="meta", requires_grad=True)
    value = call(kind, w)
    (grad,) = torch.autograd.grad(value, w)
    assert value.device.type == "meta" and value.shape == () and grad.shape == (7, 3)


def devices():
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("kind", KINDS)
def test_each_device_gives_the_library_values(kind, device):
    W = CASES["near-parallel"]
    w = torch.tensor(W, device=device, requires_grad=True)
    value = call(kind, w)
    value.backward()
    want_value, want_grad = dn.regularizer(kind, W)
    assert value.device.type == device and abs(value.item() - want_value) <= TOL * max(1.0, abs(want_value))
    np.testing.assert_allclose(w.grad.cpu().numpy(), want_grad, rtol=0, atol=TOL * max(1.0, np.abs(want_grad).max()))


def test_autocast_does_not_lower_the_gram_products_precision():
    w = torch.tensor(CASES["near-parallel"], dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = [call(kind, w) for kind in KINDS]
    for kind, value in zip(KINDS, inside):
        assert value.dtype == torch.float32 and torch.equal(value, call(kind, w)), kind


def test_rows_of_more_dimensions_are_flattened_like_a_convolutions_filters():
    w = torch.tensor(CASES["random"][:8, :4]).reshape(8, 1, 2, 2)
    for kind in KINDS:
        assert torch.equal(dnt.regularizer(kind, w), dnt.regularizer(kind, w.reshape(8, 4))), kind


def test_directional_ones_are_scale_free_with_gradients_orthogonal_to_rows():
    W = CASES["random"]
    for kind in KINDS[:-1]:
        w = torch.tensor(W, requires_grad=True)
        value = call(kind, w)
        (grad,) = torch.autograd.grad(value, w)
        assert abs(call(kind, torch.tensor(3.7 * W)).item() - value.item()) <= 1e-12, kind
        assert torch.max(torch.abs((grad * w).sum(dim=1))).item() <= 1e-12, kind


def test_a_nan_or_infinite_row_makes_the_value_nan():
    for bad in [math.nan, math.inf, -math.inf]:
        W = torch.tensor(CASES["random"])
        W[2, 1] = bad
        for kind in KINDS[:-1]:
            assert math.isnan(call(kind, W).item()), (kind, bad)
        assert not math.isfinite(dnt.weight_decay(W).item())


def test_empty_weights_give_zero_with_a_gradient():
    for shape in [(0, 4), (3, 0)]:
        w = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        for kind in KINDS:
            value = call(kind, w)
            (grad,) = torch.autograd.grad(value, w, allow_unused=True)
            assert value.item() == 0.0 and (grad is None or not grad.any()), (kind, shape)


def seeded(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind", PAIR_SUMS)
def test_sampled_estimate_is_reproducible_with_a_seed(kind):
    W = CASES["random"]
    a, ga = value_and_grad(kind, W, sample=3, generator=seeded(11))
    b, gb = value_and_grad(kind, W, sample=3, generator=seeded(11))
    c, gc = value_and_grad(kind, W, sample=3, generator=seeded(12))
    assert a == b and np.array_equal(ga, gb)
    assert a != c and not np.array_equal(ga, gc)


@pytest.mark.parametrize("kind", PAIR_SUMS)
def test_sampled_estimate_covering_every_partner_is_exact(kind):
    W = CASES["zero rows"]  # 9 rows, 7 with a direction
    exact, exact_grad = value_and_grad(kind, W)
    # K >= the number of rows: nothing is drawn (the generator does not move).
    g = seeded(5)
    state = g.get_state()
    assert value_and_grad(kind, W, sample=9, generator=g)[0] == exact
    assert torch.equal(g.get_state(), state)
    # The rows with a direction <= K < the rows: the draw covers every partner.
    value, grad = value_and_grad(kind, W, sample=7, generator=seeded(5))
    assert abs(value - exact) <= 1e-12 * max(1.0, abs(exact))
    np.testing.assert_allclose(grad, exact_grad, rtol=0, atol=1e-12 * max(1.0, np.abs(exact_grad).max()))


def pair_reference(kind, W, partners):
    """The library's --reg-sample estimate with the partners `partners` (indices into
    the rows with a direction), from the library's own values on pairs of rows: for two
    rows, R = c2 + psi_2(c) and dR/dw_k = psi_2'(c) dc/dw_k, where psi_n = factor(n) psi_2."""
    kept = np.flatnonzero(np.linalg.norm(W, axis=1) > 0)
    n, K = len(kept), len(partners)
    if kind == "discrepancy":
        const_n, const_2, factor = 0.25 / n, 0.125, 4.0 / n**2
    elif kind.startswith("mhe"):
        const_n, const_2, factor = 0.0, 0.0, 2.0 / (n * (n - 1))
    else:
        const_n, const_2, factor = 0.0, 0.0, 1.0
    pair_sum, grad = 0.0, np.zeros_like(W)
    for k in kept:
        for l in kept[partners]:
            if l != k:
                r, g = dn.regularizer(kind, W[[k, l]])
                pair_sum += factor * (r - const_2)
                grad[k] += (n / K) * factor * g[0]
    return const_n + 0.5 * (n / K) * pair_sum, grad


@pytest.mark.parametrize("kind", PAIR_SUMS)
def test_sampled_estimate_is_the_librarys_estimator_pair_by_pair(kind):
    W = CASES["zero rows"]
    value, grad = value_and_grad(kind, W, sample=3, generator=seeded(21))
    # The documented draw: torch.randperm over the rows with a direction, first K.
    partners = torch.randperm(7, generator=seeded(21))[:3].numpy()
    want_value, want_grad = pair_reference(kind, W, partners)
    assert abs(value - want_value) <= TOL
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=TOL)


@pytest.mark.parametrize("kind", PAIR_SUMS)
def test_sampled_estimate_is_unbiased(kind):
    # 12 rows (one zero), K = 3 partners; the mean of 3000 seeded draws against the exact
    # value and gradient, within 4.5 standard errors (deterministic: fixed seeds).
    rng = np.random.default_rng(8)
    W = rng.normal(size=(12, 4))
    W[5] = 0.0
    exact, exact_grad = value_and_grad(kind, W)
    g = seeded(2024)
    draws = [value_and_grad(kind, W, sample=3, generator=g) for _ in range(3000)]
    values = np.array([v for v, _ in draws])
    grads = np.stack([gr for _, gr in draws])
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert 0 < se < 0.01 * abs(exact), (se, exact)  # the test can tell a 1% bias
    assert abs(values.mean() - exact) <= 4.5 * se, (values.mean(), exact, se)
    grad_se = grads.std(axis=0, ddof=1) / math.sqrt(len(grads))
    live = grad_se > 0
    assert np.all(np.abs(grads.mean(axis=0) - exact_grad)[live] <= 4.5 * grad_se[live])
    assert np.all(exact_grad[~live] == 0.0)  # the zero row


def test_bad_arguments_name_the_argument():
    W = torch.tensor(CASES["random"])
    cases = [
        (lambda: dnt.diversity(CASES["random"]), TypeError, "weight: expected a torch.Tensor"),
        (lambda: dnt.diversity(W.long()), TypeError, "weight: expected a float32 or float64"),
        (lambda: dnt.diversity(W.half()), TypeError, "weight.float()"),
        (lambda: dnt.diversity(W[0]), ValueError, "weight: expected a matrix"),
        (lambda: dnt.mhe(W, 3), ValueError, "s: the MHE power must be 0, 1 or 2"),
        (lambda: dnt.mhe(W, True), ValueError, "s: the MHE power"),
        (lambda: dnt.mhe(W, 2, "yes"), TypeError, "angular"),
        (lambda: dnt.diversity(W, sample=0), ValueError, "sample: expected None"),
        (lambda: dnt.diversity(W, sample=True), ValueError, "sample: expected None"),
        (lambda: dnt.diversity(W, sample=2.5), ValueError, "sample: expected None"),
        (lambda: dnt.diversity(W, sample=2, generator=3), TypeError, "generator: expected a torch.Generator"),
        (lambda: dnt.diversity(W, generator=seeded(0)), ValueError, "generator: given without sample"),
        (lambda: dnt.MMA()(W[0]), ValueError, "weight: expected a matrix"),
        (lambda: dnt.regularizer("diversity", W), ValueError, "kind: `diversity`: expected discrepancy"),
        (lambda: dnt.regularizer("mhe3", W), ValueError, "kind: `mhe3`: the MHE power"),
        (lambda: dnt.regularizer("mma", W, sample=3), ValueError, "sample: `mma`"),
        (lambda: dnt.Regularizer("weight-decay", sample=3), ValueError, "sample: `weight-decay`"),
        (lambda: dnt.MHE(s=5), ValueError, "s: the MHE power"),
    ]
    for run, error, message in cases:
        with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
            run()
    assert dnt.diversity(W, sample=np.int64(2), generator=seeded(0)).shape == ()


def test_import_diversenet_does_not_import_torch():
    code = (
        "import sys, diversenet\n"
        "assert 'torch' not in sys.modules, 'diversenet imported torch'\n"
        "import diversenet.torch\n"
        "assert 'torch' in sys.modules and diversenet.torch.diversity is not None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_training_loop_with_the_regulariser():
    # A Linear-ReLU-Linear on random data: the loss stays finite, and weight.grad holds
    # the cross-entropy's gradient plus lam times the library's dR/dW.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).double()
    x, y = torch.randn(64, 10, dtype=torch.float64), torch.randint(0, 3, (64,))
    ce, lam = torch.nn.CrossEntropyLoss(), 0.5
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    reg = dnt.Diversity()
    for step in range(5):
        optimizer.zero_grad()
        (ce_grad,) = torch.autograd.grad(ce(model(x), y), model[0].weight)
        loss = ce(model(x), y) + lam * reg(model[0].weight)
        loss.backward()
        assert math.isfinite(loss.item())
        _, want = dn.regularizer("discrepancy", model[0].weight.detach().numpy())
        np.testing.assert_allclose((model[0].weight.grad - ce_grad).numpy(), lam * want, rtol=0, atol=1e-12)
        optimizer.step()
    # The sampled estimate in the same loop, seeded.
    g = seeded(1)
    for step in range(3):
        optimizer.zero_grad()
        loss = ce(model(x), y) + lam * dnt.diversity(model[0].weight, sample=4, generator=g)
        loss.backward()
        assert math.isfinite(loss.item()) and torch.isfinite(model[0].weight.grad).all()
        optimizer.step()
