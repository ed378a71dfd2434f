"""Inputs too large for memory are refused with ValueError before anything is allocated
(the process used to abort on a failed allocation); diverging training and inputs whose
Gram matrix overflows f64 are refused instead of returning NaN."""

import resource

import numpy as np
import pytest

import diversenet as dn

# 3 million rows: every m x m (or n x n) f64 matrix is 72 TB, beyond any machine's budget;
# the inputs themselves are 48 MB.
BIG = 3_000_000
COLUMN = np.ones((BIG, 2))
ROW = np.ones((1, BIG))


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: dn.kernel_matrix(COLUMN), "rows of X"),
        (lambda: dn.kernel_lambda_min(COLUMN), "rows of X"),
        (lambda: dn.smallest_singular_value(COLUMN, ROW, COLUMN), "rows of X"),
        (lambda: dn.l2_discrepancy(COLUMN), "rows of W"),
        (lambda: dn.regularizer("discrepancy", COLUMN), "rows of W"),
    ],
)
def test_theory_functions_refuse_inputs_beyond_the_memory_budget(call, name):
    before = peak_rss_bytes()
    with pytest.raises(ValueError, match="would need about") as e:
        call()
    message = str(e.value)
    assert f"{BIG} {name}" in message and f"{name} fit" in message, message
    assert "--max-memory" not in message, message
    # Nothing near the refused size was allocated (the copies of the inputs are 48 MB each).
    assert peak_rss_bytes() - before < 500_000_000


def test_train_refuses_a_width_beyond_the_memory_budget_in_python_terms():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match="width-1000000000000") as e:
        dn.train(X, y, width=10**12, epochs=1)
    message = str(e.value)
    assert "largest width= that fits" in message and "--" not in message, message


def test_small_rank_deficient_input_is_not_refused():
    # d n < m c: s_m(D) = 0 by rank, with no Gram matrix, so no memory check applies.
    assert dn.smallest_singular_value(np.ones((1, 2)), np.ones(1), COLUMN[:100_000]) == 0.0


def test_diverging_training_is_refused_as_by_the_cli():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (X[:, 0] > 0).astype(int)
    # The loss turns inf (or W NaN behind a finite loss) within the 10 epochs.
    with pytest.raises(ValueError, match="training diverged"):
        dn.train(X, y, width=16, epochs=10, lr=100.0, optimizer="sgd")


def test_initial_scale_overflowing_float32_is_refused():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match="init_scale"):
        dn.train(X, y, width=8, epochs=1, init_scale=1e39)
    # float64 holds 1e39: the same setting trains.
    r = dn.train(X, y, width=8, epochs=0, init_scale=1e39, precision="f64")
    assert np.isfinite(r["W"]).all()


# The functions that take points X (with a network W, V where they need one).
POINT_FUNCTIONS = [
    lambda X, W, V: dn.smallest_singular_value(W, V, X),
    lambda X, W, V: dn.kernel_matrix(X),
    lambda X, W, V: dn.kernel_lambda_min(X),
    lambda X, W, V: dn.analyze(W, V, X),
]


@pytest.mark.parametrize("call", POINT_FUNCTIONS)
def test_inputs_whose_gram_overflows_are_refused_like_weights(call):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.standard_normal((40, 3))
    V = rng.choice([-1.0, 1.0], size=(1, 40))
    # ||x||^2 = 1e320 overflows f64 (NaN or 0.0 came back); 1e300 does not.
    with pytest.raises(ValueError, match=r"X: the values overflow: the largest is .*e1(59|60).*rescale X"):
        call(X * 1e160, W, V)


def test_large_inputs_below_overflow_keep_their_values():
    # K is homogeneous of degree 2: lambda_min(K(s X)) = s^2 lambda_min(K(X)), with K from
    # its closed form <x_i, x_j> (pi - theta_ij) / (2 pi) in numpy.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    G = np.clip(X @ X.T, -1.0, 1.0)
    K = G * (np.pi - np.arccos(G)) / (2 * np.pi)
    expected = 1e300 * np.linalg.eigvalsh(K)[0]
    assert dn.kernel_lambda_min(X * 1e150) == pytest.approx(expected, rel=1e-6)


def test_standardising_a_column_whose_mean_overflows_is_refused():
    # Every row's first value is 1.5e308: the column's sum overflows f64, so its mean and
    # scale are infinite and standardising would leave NaN or zeros; refused, naming X and
    # the column.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((10, 3))
    X[:, 0] = 1.5e308
    W = rng.standard_normal((40, 3))
    V = rng.choice([-1.0, 1.0], size=(1, 40))
    with pytest.raises(ValueError, match=r"^X: input column 1 \(of 3, counting from 1\): its sum"):
        dn.analyze(W, V, X, input_scaling="standardise")


@pytest.mark.parametrize("call", POINT_FUNCTIONS)
def test_empty_inputs_are_refused(call):
    # s_m(D) and lambda_min(K) of no points are undefined (0.0 came back).
    W, V = np.ones((4, 3)), np.ones((1, 4))
    with pytest.raises(ValueError, match=r"^X: no points \(shape \(0, 3\)\)"):
        call(np.zeros((0, 3)), W, V)


def test_bad_class_labels_are_value_errors_naming_y_in_python_terms():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    W, V3 = rng.standard_normal((8, 4)), rng.standard_normal((3, 8))
    for call, name in [
        (lambda: dn.train(X, y - 1, width=8, epochs=1), "y"),
        (lambda: dn.train(X, y, width=8, epochs=1, X_test=X, y_test=y - 1), "y_test"),
        (lambda: dn.analyze(W, V3, X, -np.ones(60, dtype=int)), "y"),
    ]:
        with pytest.raises(ValueError, match=rf"^{name}: label -1 of sample \d+ is not a class index") as e:
            call()
        assert "--task" not in str(e.value) and "use a float array" in str(e.value), str(e.value)
