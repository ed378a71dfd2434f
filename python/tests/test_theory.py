"""The theory's quantities against independent references: numpy's SVD of D built
explicitly, numpy's eigvalsh of K built from its closed form with exact angles, finite
differences, and the values of PAPER.md."""

import math

import numpy as np
import pytest

import diversenet as dn
from conftest import exact_angles, random_network, sphere_points


def explicit_D(W, V, X):
    """D (dn x mc): column (i, j) stacks v_jk 1[w_k . x_i > 0] x_i over the units k."""
    n, d = W.shape
    c = V.shape[0]
    A = (X @ W.T > 0).astype(float)  # m x n
    cols = []
    for i in range(X.shape[0]):
        for j in range(c):
            cols.append(np.concatenate([V[j, k] * A[i, k] * X[i] for k in range(n)]))
    return np.array(cols).T


def layouts(a, dtype):
    """The same values as C- and Fortran-ordered arrays of a dtype."""
    return [np.ascontiguousarray(a, dtype=dtype), np.asfortranarray(a, dtype=dtype)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c", [1, 2])
def test_smallest_singular_value_matches_numpy_svd_of_explicit_D(dtype, c):
    rng = np.random.default_rng(1 + c)
    W, V = random_network(rng, n=24, d=5, c=c)
    X = sphere_points(rng, m=20, d=5)
    # The reference uses exactly the values the library receives.
    W, V, X = (a.astype(dtype).astype(np.float64) for a in (W, V, X))
    m = X.shape[0] * c
    reference = np.linalg.svd(explicit_D(W, V, X), compute_uv=False)[m - 1]
    assert reference > 1e-3
    for Wl in layouts(W, dtype):
        for Xl in layouts(X, dtype):
            got = dn.smallest_singular_value(Wl, np.asfortranarray(V, dtype=dtype), Xl)
            assert got == pytest.approx(reference, rel=1e-8)


def test_s_min_is_zero_when_d_n_is_below_m():
    rng = np.random.default_rng(3)
    W, V = random_network(rng, n=2, d=3)
    X = sphere_points(rng, m=10, d=3)
    assert dn.smallest_singular_value(W, V, X) == 0.0
    assert explicit_D(W, V, X).shape == (6, 10)  # rank <= 6 < m = 10


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_matrix_and_lambda_min_match_numpy(dtype):
    rng = np.random.default_rng(4)
    # Off the unit sphere (standard normal rows), with a repeated row: an angle of 0 that a
    # Gram cosine gives as about 1e-8, and K_ii = ||x_i||^2 / 2 exactly.
    X = rng.normal(size=(40, 6)).astype(dtype)
    X[7] = X[3]
    X64 = X.astype(np.float64)
    K_ref = (X64 @ X64.T) * (np.pi - exact_angles(X64)) / (2 * np.pi)
    for Xl in layouts(X, dtype):
        K = dn.kernel_matrix(Xl)
        assert K.shape == (40, 40) and K.dtype == np.float64
        np.testing.assert_allclose(K, K_ref, rtol=1e-13, atol=1e-14)
        assert dn.kernel_lambda_min(Xl) == pytest.approx(np.linalg.eigvalsh(K_ref)[0], rel=1e-8)
        # The diagonal: half the squared norms, to the rounding of the sums of squares
        # (it was off by up to 6.7e-9 relative).
        np.testing.assert_allclose(np.diag(K), 0.5 * np.sum(X64**2, axis=1), rtol=4e-16 * 6, atol=0)
        assert K[3, 7] == K[3, 3]


KINDS = ["discrepancy", "mhe0", "mhe1", "mhe2", "mhe1-angular", "mma", "orthogonal", "weight-decay"]


@pytest.mark.parametrize("kind", KINDS)
def test_regularizer_gradients_match_finite_differences(kind):
    rng = np.random.default_rng(5)
    W = rng.normal(size=(6, 4))
    value, grad = dn.regularizer(kind, W)
    assert grad.shape == W.shape and np.isfinite(value)
    h = 1e-6
    numeric = np.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        numeric[idx] = (dn.regularizer(kind, Wp)[0] - dn.regularizer(kind, Wm)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_discrepancy_regularizer_and_l2_discrepancy_match_the_closed_form():
    rng = np.random.default_rng(6)
    W = rng.normal(size=(7, 3))
    theta = exact_angles(W)
    R = np.mean(((np.pi - theta) / (2 * np.pi)) ** 2)
    c3 = (np.pi**2 - 4) / (8 * np.pi**2)  # PAPER.md section 4
    assert dn.regularizer("discrepancy", W)[0] == pytest.approx(R, rel=1e-13)
    assert dn.l2_discrepancy(W) == pytest.approx(R - c3, rel=1e-6, abs=1e-9)
    assert dn.regularizer("weight-decay", W)[0] == pytest.approx(np.sum(W**2), rel=1e-12)


@pytest.mark.parametrize(
    "d, expected", [(2, 1 / 12), (3, 0.074339), (5, 0.068710), (10, 0.065303), (784, 0.062532)]
)
def test_slice_constant_matches_paper(d, expected):
    assert dn.slice_constant(d) == pytest.approx(expected, abs=6e-7)


# PAPER.md section 3: gamma_u (multiplicity) for d = 3, 5, 10 and u = 0, 1, 2, 4, 6.
PAPER_SPECTRUM = {
    3: [(0, 6.25e-2, 1), (1, 8.3333e-2, 3), (2, 2.734375e-2, 5), (4, 2.2786e-3, 9), (6, 6.561e-4, 13)],
    5: [(0, 3.515625e-2, 1), (1, 5.0e-2, 5), (2, 1.07422e-2, 14), (4, 4.425e-4, 55), (6, 7.553e-5, 140)],
    10: [(0, 1.67301e-2, 1), (1, 2.5e-2, 10), (2, 2.90358e-3, 54), (4, 4.0089e-5, 660), (6, 2.7817e-6, 4290)],
}


@pytest.mark.parametrize("d", sorted(PAPER_SPECTRUM))
def test_spectrum_matches_paper(d):
    s = dn.spectrum(d, 8)
    assert s["dim"] == d and s["max_degree"] == 8 and len(s["degrees"]) == 9
    by_u = {e["u"]: e for e in s["degrees"]}
    for u, gamma, mult in PAPER_SPECTRUM[d]:
        # The table gives 4 to 7 significant digits.
        assert by_u[u]["gamma"] == pytest.approx(gamma, rel=2e-4)
        assert by_u[u]["multiplicity"] == mult
    assert by_u[1]["gamma"] == pytest.approx(1 / (4 * d), rel=1e-12)
    assert by_u[3]["gamma"] == 0.0 and by_u[5]["gamma"] == 0.0
    assert 0 < s["cumulative"] <= 0.5 + 1e-9
    assert s["ranked"][0]["m"] == 1.0


def test_analyze_agrees_with_its_parts_and_the_bound_holds():
    rng = np.random.default_rng(7)
    W, V = random_network(rng, n=30, d=6)
    X = sphere_points(rng, m=50, d=6)
    y = rng.normal(size=50)
    a = dn.analyze(W, V, X, y)
    assert a["points_used"] == 50 and (a["dim"], a["width"], a["outputs"]) == (6, 30, 1)
    assert a["s_min"] == pytest.approx(dn.smallest_singular_value(W, V, X), rel=1e-12)
    assert a["lambda_min_k"] == pytest.approx(dn.kernel_lambda_min(X), rel=1e-12)
    assert a["l2_discrepancy_sq"] == pytest.approx(dn.l2_discrepancy(W), rel=1e-12)
    f = np.maximum(X @ W.T, 0) @ V[0]
    r = y - f
    assert a["loss"] == pytest.approx(r @ r / (2 * 50), rel=1e-10)
    # vec(grad_W L) = -(1/m) D r
    grad = explicit_D(W, V, X) @ r / 50
    assert a["grad_norm"] == pytest.approx(np.linalg.norm(grad), rel=1e-10)
    assert a["loss"] <= a["bound"] * (1 + 1e-12)
    assert a["loss_over_bound"] == pytest.approx(a["loss"] / a["bound"])
    # RQ3: s_m(D)^2 / n >= lambda_min(K) - ||E_W||_2
    assert a["s_min_sq_over_n"] >= a["kernel_lower_bound"] - 1e-12
    no_targets = dn.analyze(W, V, X)
    assert no_targets["loss"] is None and no_targets["bound"] is None
    assert no_targets["s_min"] == a["s_min"]
    # Class labels are one-hot over the outputs.
    W2, V2 = random_network(rng, n=30, d=6, c=3, fixed=False)
    labels = rng.integers(0, 3, size=50)
    onehot = np.eye(3)[labels]
    assert dn.analyze(W2, V2, X, labels)["loss"] == pytest.approx(dn.analyze(W2, V2, X, onehot)["loss"])
    # Scaling onto the sphere is the same as passing points on the sphere.
    scaled = dn.analyze(W, V, 3.0 * X, y, input_scaling="sphere")
    assert scaled["s_min"] == pytest.approx(a["s_min"], rel=1e-12)
