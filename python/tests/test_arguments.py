"""Arguments that cannot be honoured are refused with a ValueError naming them (targets
as y, inapplicable options, save_model's inputs), long computations are bounded or can
be interrupted with Ctrl-C."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import diversenet as dn
from conftest import random_network

rng = np.random.default_rng(21)
X = rng.normal(size=(40, 4))
labels = (X[:, 0] > 0).astype(np.int64)
values = X[:, 1].copy()


# --- Ctrl-C and the Monte Carlo cap ------------------------------------------------------


def seconds_until_interrupted(call):
    """Runs `call` with a SIGINT sent 0.5 s after it starts; asserts that it raises
    KeyboardInterrupt and returns the seconds from the start until it did."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            call()
        return time.monotonic() - started
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_a_long_training():
    """SIGINT 0.5 s into a training of about 45 s (20,000 epochs on 2000 x 20 inputs: 44.7 s
    uninterrupted on the 2-core development machine) raises KeyboardInterrupt within a
    second or two, not when the training ends."""
    big = np.random.default_rng(3).normal(size=(2000, 20))
    y = (big[:, 0] > 0).astype(np.int64)
    elapsed = seconds_until_interrupted(lambda: dn.train(big, y, width=64, epochs=20_000))
    assert 0.5 <= elapsed < 3.0, elapsed
    # The package is usable afterwards, and the same training as before.
    a = dn.train(X, labels, width=4, epochs=2)
    b = dn.train(X, labels, width=4, epochs=2)
    np.testing.assert_array_equal(a["W"], b["W"])


def test_ctrl_c_stops_a_long_monte_carlo_estimate():
    """SIGINT 0.5 s into analyze's Monte Carlo estimate of about three minutes (10^6 samples
    of 1000 units in R^784, about 164 us each) raises KeyboardInterrupt within a few
    seconds; the package is usable afterwards."""
    rng = np.random.default_rng(5)
    W, V, X5 = rng.normal(size=(1000, 784)), rng.choice([-1.0, 1.0], size=(1, 1000)), rng.normal(size=(5, 784))
    elapsed = seconds_until_interrupted(lambda: dn.analyze(W, V, X5, monte_carlo=1_000_000))
    assert 0.5 <= elapsed < 5.0, elapsed
    assert dn.analyze(W[:8, :3], V[:, :8], X5[:, :3], monte_carlo=1000)["monte_carlo"]["samples"] == 1000


def test_ctrl_c_stops_the_eigenvalue_computations():
    """SIGINT 0.5 s into s_m(D) of 8000 points in R^784 and lambda_min(K) of 8000 points in
    R^50 (about 6 s and 7 s uninterrupted on the 2-core development machine: the Gram
    matrices, their Cholesky factors and the Krylov steps) raises KeyboardInterrupt within
    a second or two; the package is usable afterwards."""
    rng = np.random.default_rng(6)
    W, V = rng.normal(size=(1000, 784)), rng.choice([-1.0, 1.0], size=(1, 1000))
    X8 = rng.normal(size=(8000, 784))
    elapsed = seconds_until_interrupted(lambda: dn.smallest_singular_value(W, V, X8))
    assert 0.5 <= elapsed < 2.5, elapsed
    elapsed = seconds_until_interrupted(lambda: dn.kernel_lambda_min(X8[:, :50]))
    assert 0.5 <= elapsed < 2.5, elapsed
    assert dn.smallest_singular_value(W[:8, :3], V[:, :8], X8[:5, :3]) > 0


def value_error_of(call):
    """The ValueError message of `call` (Python text using dn, W, V, X, y), run in a
    subprocess so that a call that would run for days fails the test by a timeout."""
    script = f"""
import numpy as np, diversenet as dn
rng = np.random.default_rng(4)
W, V, X = rng.normal(size=(8, 3)), rng.normal(size=(1, 8)), rng.normal(size=(10, 3))
y = (X[:, 0] > 0).astype(np.int64)
try:
    {call}
except ValueError as e:
    print(e)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "samples, message",
    [(10**15, "1000000000000000 samples: at most 100000000 are accepted"), (1, "1 samples: at least 2")],
)
def test_monte_carlo_sample_counts_are_bounded(samples, message):
    out = value_error_of(f"dn.analyze(W, V, X, monte_carlo={samples})")
    assert out.startswith("invalid setting monte_carlo=: " + message), out


def test_epochs_whose_metrics_do_not_fit_are_refused():
    """10**12 epochs would return 10**12 metrics dicts (about 2 PB): refused at once."""
    out = value_error_of("dn.train(X, y, width=4, epochs=10**12)")
    assert out.startswith("training for 1000000000000 epochs, keeping each epoch's metrics would need about"), out
    assert "the Python package always uses this budget" in out and "epochs fit" in out, out


# --- targets are y, not X -----------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: dn.train(X, np.where(np.arange(40) == 3, np.nan, values), width=4, epochs=1),
         r"^y: target NaN at sample 3: targets must be finite"),
        (lambda: dn.train(X, np.where(np.arange(40) == 5, -np.inf, values), width=4, epochs=1),
         r"^y: target -inf at sample 5"),
        (lambda: dn.train(X, values[:39], width=4, epochs=1), r"^y: 39 targets but X has 40 rows"),
        (lambda: dn.train(X, values, width=4, epochs=1, X_test=X[:4], y_test=values[:3]),
         r"^y_test: 3 targets but X_test has 4 rows"),
        (lambda: dn.train(X, values, width=4, epochs=1, X_test=X[:4], y_test=[0.0, np.nan, 1.0, 2.0]),
         r"^y_test: target NaN at sample 1"),
        (lambda: dn.train(X, labels, width=4, epochs=1, X_test=X[:4], y_test=labels[:5]),
         r"^y_test: 5 targets but X_test has 4 rows"),
    ],
)
def test_train_names_y_in_target_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_analyze_names_y_in_target_errors():
    W, V3 = random_network(rng, n=8, d=4, c=3)
    y = np.zeros((40, 3))
    y[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"^y: target inf at sample 2, output 1"):
        dn.analyze(W, V3, X, y)
    with pytest.raises(ValueError, match=r"^y: 39 targets but X has 40 rows"):
        dn.analyze(W, V3, X, np.ones((39, 3)))
    with pytest.raises(ValueError, match=r"^y: 41 targets but X has 40 rows"):
        dn.analyze(W, V3, X, np.zeros(41, dtype=int))
    with pytest.raises(ValueError, match=r"^y: 2 target\(s\) per sample, but the network has 3 outputs \(V has 3 rows\); expected shape \(40, 3\)"):
        dn.analyze(W, V3, X, np.ones((40, 2)))
    with pytest.raises(ValueError, match=r"^y: 1 target\(s\) per sample"):
        dn.analyze(W, V3, X, np.ones(40))


# --- options that do not apply ------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(optimizer="adam", momentum=0.5), r"^invalid setting momentum=: it does not apply here: only the sgd optimizer has a momentum \(this run uses adam\)"),
        (dict(momentum=0.5), r"^invalid setting momentum=: it does not apply here: .*uses adam"),
        (dict(optimizer="gd", momentum=0.5), r"^invalid setting momentum=: it does not apply here: .*uses gd\)"),
        (dict(optimizer="gd", batch_size=8), r"^invalid setting batch_size=: it does not apply here: the gd optimizer steps on the whole training set; leave it out"),
        (dict(reg_every=2), r"^invalid setting reg_every=: it does not apply here: .*regularisers .* none is given"),
        (dict(reg_sample=2), r"^invalid setting reg_sample=: it does not apply here: .*regularisers .* none is given"),
        (dict(reg="mma", lambda_=0.1, reg_sample=2), r"^invalid setting reg_sample=: it does not apply here: sampling estimates the pairwise regularisers .*none is given"),
        (dict(test_fraction=0.5, X_test=X[:5], y_test=labels[:5]), r"^invalid setting test_fraction=: it does not apply here: it splits a test set off X when no X_test"),
    ],
)
def test_options_that_do_not_apply_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        dn.train(X, labels, width=4, epochs=1, **options)


def test_options_that_apply_are_accepted():
    base = dict(width=4, epochs=2, seed=1)
    a = dn.train(X, labels, optimizer="sgd", momentum=0.0, **base)
    b = dn.train(X, labels, optimizer="sgd", momentum=0.5, **base)
    assert not np.array_equal(a["W"], b["W"])  # momentum changes SGD's path
    dn.train(X, labels, optimizer="sgd", batch_size=8, reg="discrepancy", lambda_=0.1, reg_every=2, reg_sample=2, **base)
    dn.train(X, labels, test_fraction=0.5, **base)
    dn.train(X, labels, X_test=X[:5], y_test=labels[:5], momentum=None, test_fraction=None, **base)


# --- save_model -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standardised():
    return dn.train(X * 3 + 1, labels, width=6, epochs=1, input_scaling="standardise")


def _save(path, r, config=None, **kw):
    args = dict(targets=r["targets"], input_mean=r["input_mean"], input_scale=r["input_scale"])
    args.update(kw)
    dn.save_model(path, r["W"], r["V"], r["config"] if config is None else config, **args)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(input_mean=np.zeros((2, 2))), r"^input_mean must be a 1-dimensional array; it has shape \[2, 2\]"),
        (dict(input_scale=np.ones((4, 1))), r"^input_scale must be a 1-dimensional array; it has shape \[4, 1\]"),
        (dict(input_mean=np.zeros(3)), r"^input_mean: 3 values, but the inputs have 4 dimensions: expected shape \(4,\)"),
        (dict(input_scale=np.array([1.0, 0.0, 1.0, 1.0])), r"^input_scale: entry 1 is 0: every value must be finite and > 0"),
        (dict(input_scale=np.array([1.0, 1.0, np.nan, 1.0])), r"^input_scale: entry 2 is NaN"),
        (dict(input_mean=np.array([0.0, 0.0, 0.0, np.inf])), r"^input_mean: entry 3 is inf: every value must be finite"),
        (dict(input_scale=None), r"give both input_mean and input_scale"),
        (dict(input_mean=None, input_scale=None), r"give both input_mean and input_scale"),
        (dict(targets="scalar"), r'^targets: "scalar" with a cross-entropy configuration'),
    ],
)
def test_save_model_refuses_bad_arguments_with_value_error(tmp_path, standardised, change, message):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match=message):
        _save(path, standardised, **change)
    assert not path.exists()


def test_save_model_refuses_unknown_config_keys(tmp_path, standardised):
    path = tmp_path / "m.safetensors"
    config = dict(standardised["config"], lerning_rate=0.5)
    with pytest.raises(ValueError, match=r"not a valid diversenet configuration: unknown field `lerning_rate`"):
        _save(path, standardised, config)
    nested = dict(standardised["config"], schedule={"name": "constant", "every": 3})
    with pytest.raises(ValueError, match=r"`schedule.every`"):
        _save(path, standardised, nested)
    assert not path.exists()
    _save(path, standardised)  # the configuration as train returned it
    assert dn.load_model(path)["config"] == standardised["config"]


def test_save_model_refuses_weights_of_another_shape_with_value_error(tmp_path, standardised):
    path = tmp_path / "m.safetensors"
    r = dict(standardised, W=standardised["W"][:5], V=standardised["V"][:, :5])
    with pytest.raises(ValueError, match=r"^W, V: W is 5x4 and V 2x5, but the configuration is for width 6, dim 4 and outputs 2"):
        _save(path, r)
    assert not path.exists()
