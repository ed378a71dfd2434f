"""diversenet.Model: train uses every row, predictions against numpy written out, labels
encoded as scikit-learn's LabelEncoder does, the model's own scaling in analyze, files
with their data record, and the command line's predict."""

import hashlib

import numpy as np
import pytest

import diversenet as dn


def blobs(rng, m=120, d=4, labels=(0, 1)):
    """Two or more Gaussian clusters, one per label, in random order."""
    centres = rng.normal(scale=3.0, size=(len(labels), d))
    k = rng.integers(len(labels), size=m)
    X = centres[k] + rng.normal(size=(m, d))
    return X, np.asarray(labels)[k]


def scale_like_numpy(model, X):
    X = np.asarray(X, dtype=np.float64)
    if model.input_scaling == "sphere":
        return X / np.linalg.norm(X, axis=1, keepdims=True)
    if model.input_scaling == "standardise":
        return (X - model.input_mean) / model.input_scale
    return X


def outputs_like_numpy(model, X):
    Z = scale_like_numpy(model, X)
    return np.maximum(Z @ model.W.T, 0.0) @ model.V.T


def fingerprint_like_rust(X, labels=None, num_classes=None, y=None):
    """Dataset::fingerprint written out: SHA-256 of the shape, the SHA-256 of each block
    of 1024 rows of X (float64 little-endian) and the targets."""
    X = np.ascontiguousarray(X, dtype="<f8")
    h = hashlib.sha256()
    h.update(np.array(X.shape, dtype="<u8").tobytes())
    for start in range(0, X.shape[0], 1024):
        h.update(hashlib.sha256(X[start:start + 1024].tobytes()).digest())
    if labels is not None:
        h.update(b"classes")
        h.update(np.array([num_classes], dtype="<u8").tobytes())
        h.update(np.asarray(labels, dtype="<u4").tobytes())
    else:
        h.update(b"scalar")
        h.update(np.asarray(y, dtype="<f8").tobytes())
    return h.hexdigest()


def test_train_uses_every_row_and_says_what_its_metrics_are_on():
    rng = np.random.default_rng(0)
    X, y = blobs(rng, m=90)
    model = dn.train(X, y, width=8, epochs=2, seed=3)
    assert isinstance(model, dn.Model)
    assert model.metrics_on == {"train": "every row of X (90 rows)", "test": None}
    assert model.test_indices is None
    assert all("test_loss" not in m and "test_error" not in m for m in model.metrics)
    record = model.config["data"]
    assert record["arrays"] == {"train": [90, 4], "test": None}
    assert record["train_sha256"] == fingerprint_like_rust(X, labels=y, num_classes=2)
    assert record["test_sha256"] == ""


def test_a_held_out_set_is_asked_for_and_its_rows_are_returned():
    rng = np.random.default_rng(1)
    X, y = blobs(rng, m=100)
    model = dn.train(X, y, width=8, epochs=1, test_fraction=0.25, seed=5, precision="f64")
    held = model.test_indices
    assert len(held) == 25 and len(set(held.tolist())) == 25 and held.max() < 100
    assert "25 rows of X held out" in model.metrics_on["test"]
    assert model.metrics_on["train"] == "the 75 rows of X not held out"
    rest = np.setdiff1d(np.arange(100), held)
    # The training record is the 75 rows not held out, in the order they were trained on.
    assert model.config["data"]["arrays"]["train"] == [75, 4]
    # The test loss is the model's mean cross-entropy on the held-out rows.
    f = outputs_like_numpy(model, X[held])
    f = f - f.max(axis=1, keepdims=True)
    ce = -(f[np.arange(25), y[held]] - np.log(np.exp(f).sum(axis=1)))
    assert abs(model.metrics[-1]["test_loss"] - ce.mean()) < 1e-12 * max(1.0, ce.mean())
    assert len(rest) == 75
    # A separate test set.
    Xt, yt = blobs(rng, m=30)
    model = dn.train(X, y, width=8, epochs=1, X_test=Xt, y_test=yt)
    assert model.metrics_on["test"] == "X_test, y_test (30 rows)"
    with pytest.raises(ValueError, match="test_fraction"):
        dn.train(X, y, epochs=1, test_fraction=0.2, X_test=Xt, y_test=yt)


@pytest.mark.parametrize("scaling", ["sphere", "standardise", "raw"])
def test_predictions_are_the_network_on_the_models_own_scaling(scaling):
    rng = np.random.default_rng(2)
    X, y = blobs(rng, m=80, labels=(0, 1, 2))
    model = dn.train(X, y, width=10, epochs=3, input_scaling=scaling, precision="f64")
    Xn = rng.normal(size=(17, 4)) * 2.0
    f = outputs_like_numpy(model, Xn)
    np.testing.assert_allclose(model.decision_function(Xn), f, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(model.predict(Xn), model.classes_[f.argmax(axis=1)])
    e = np.exp(f - f.max(axis=1, keepdims=True))
    np.testing.assert_allclose(model.predict_proba(Xn), e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    assert model.score(X, y) == np.mean(model.predict(X) == y)


def test_regression_predicts_values_and_scores_r2():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    model = dn.train(X, y, width=12, epochs=5, precision="f64")
    assert not model.is_classifier and model.classes_ is None and model.loss == "squared"
    pred = model.predict(X)
    np.testing.assert_allclose(pred, outputs_like_numpy(model, X)[:, 0], rtol=1e-12, atol=1e-12)
    r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert abs(model.score(X, y) - r2) < 1e-12
    with pytest.raises(ValueError, match="predict_proba: the model's loss is 'squared'"):
        model.predict_proba(X)


def test_labels_are_the_classes_present_as_label_encoder_finds_them():
    rng = np.random.default_rng(4)
    X, y = blobs(rng, m=60, labels=(10, 3))
    model = dn.train(X, y, width=6, epochs=2)
    np.testing.assert_array_equal(model.classes_, [3, 10])
    assert model.V.shape[0] == 2
    assert set(model.predict(X).tolist()) <= {3, 10}
    # Strings are class labels only when asked.
    names = np.where(y == 3, "cat", "dog")
    with pytest.raises(ValueError, match=r"^y: the targets are strings.*task=classify"):
        dn.train(X, names, epochs=1)
    with pytest.raises(ValueError, match=r"^y: the targets are strings"):
        dn.train(X, np.where(y == 3, "0", "1"), epochs=1)
    model = dn.train(X, names, width=6, epochs=2, task="classify")
    assert model.classes_.tolist() == ["cat", "dog"]
    assert set(model.predict(X).tolist()) <= {"cat", "dog"}
    assert model.score(X, names) == np.mean(model.predict(X) == names)
    # One class is refused.
    with pytest.raises(ValueError, match=r"^y: every label is 7: a classifier needs at least two"):
        dn.train(X, np.full(60, 7), epochs=1)
    # A test label that is no class.
    with pytest.raises(ValueError, match=r"^y_test: label 4 of sample 0 is not one of the model's classes \(3, 10\)"):
        dn.train(X, y, epochs=1, X_test=X[:2], y_test=[4, 3])


def test_analyze_applies_the_models_own_scaling_and_says_which():
    rng = np.random.default_rng(5)
    X, y = blobs(rng, m=50, labels=(3, 10))
    model = dn.train(X, y, width=30, epochs=2, input_scaling="standardise", precision="f64")
    Xn = X[:20] * 1.5 + 1.0
    a = model.analyze(Xn, y[:20], all_points=True)
    assert a["input_scaling"] == "standardise (input_mean, input_scale)"
    Z = scale_like_numpy(model, Xn)
    index = np.searchsorted(model.classes_, y[:20])
    b = dn.analyze(model.W, model.V, Z, index, all_points=True)
    assert b["input_scaling"] == "raw"
    for key in ("s_min", "loss", "grad_norm", "lambda_min_k"):
        assert abs(a[key] - b[key]) <= 1e-9 * max(1.0, abs(b[key])), key
    # Plain analyze with standardise and no statistics refits them on X, and says so.
    c = dn.analyze(model.W, model.V, Xn, input_scaling="standardise")
    assert c["input_scaling"] == "standardise (the statistics of X)"
    with pytest.raises(ValueError, match="input_scaling: a model applies its own"):
        model.analyze(Xn, input_scaling="raw")


def test_from_weights_wraps_foreign_weights_with_their_scaling():
    rng = np.random.default_rng(6)
    W, V = rng.normal(size=(5, 3)), rng.normal(size=(2, 5))
    X = rng.normal(size=(7, 3))
    mean, scale = np.array([1.0, 0.0, -1.0]), np.array([2.0, 1.0, 0.5])
    m = dn.Model.from_weights(W, V, input_scaling="standardise", input_mean=mean,
                              input_scale=scale, classes=["a", "b"], loss="cross-entropy")
    f = np.maximum(((X - mean) / scale) @ W.T, 0) @ V.T
    np.testing.assert_allclose(m.decision_function(X), f, rtol=1e-12)
    assert m.predict(X).tolist() == [["a", "b"][j] for j in f.argmax(axis=1)]
    with pytest.raises(ValueError, match="standardised inputs need their statistics"):
        dn.Model.from_weights(W, V, input_scaling="standardise")
    with pytest.raises(ValueError, match=r"^input_scale: entry 1 is 0"):
        dn.Model.from_weights(W, V, input_scaling="standardise", input_mean=mean,
                              input_scale=[1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="classes: 3 classes for a network of 2 outputs"):
        dn.Model.from_weights(W, V, classes=[1, 2, 3])
    with pytest.raises(ValueError, match=r"X: 4 features per sample, but the model takes 3"):
        m.predict(np.zeros((2, 4)))


def test_a_saved_model_keeps_scaling_classes_and_data_record(tmp_path, cli):
    rng = np.random.default_rng(7)
    X, y = blobs(rng, m=70, labels=(3, 10))
    model = dn.train(X, y, width=8, epochs=2, input_scaling="standardise")
    path = tmp_path / "m.safetensors"
    model.save(path)
    back = dn.load_model(path)
    assert isinstance(back, dn.Model)
    np.testing.assert_array_equal(back.classes_, [3, 10])
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_allclose(back.input_mean, model.input_mean)
    assert back.config["data"] == model.config["data"]
    # The command line refuses to measure it without --data (no file holds the arrays).
    for command in ("eval", "analyze"):
        r = cli(command, "--model", path, check=False)
        assert r.returncode != 0
        assert "in-memory arrays (training inputs 70 x 4" in r.stderr and "--data" in r.stderr, r.stderr
    # predict writes the model's predictions, as .npy (int64 classes) and .csv.
    np.save(tmp_path / "X.npy", X[:9])
    cli("predict", "--model", path, "--data", f"npy:{tmp_path / 'X.npy'}", "--out", tmp_path / "p.npy")
    p = np.load(tmp_path / "p.npy")
    assert p.dtype == np.int64
    np.testing.assert_array_equal(p, model.predict(X[:9]))
    cli("predict", "--model", path, "--data", f"npy:{tmp_path / 'X.npy'}", "--out", tmp_path / "p.csv",
        "--kind", "proba")
    proba = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "p_3,p_10"
    np.testing.assert_allclose(proba, model.predict_proba(X[:9]), rtol=1e-12)


def test_arguments_out_of_range_name_the_argument_and_the_range():
    X, y = np.eye(4), np.array([0, 1, 0, 1])
    top = 2**64 - 1
    cases = [
        (lambda: dn.train(X, y, width=-3), rf"^width=-3: expected a whole number from 1 to {top}"),
        (lambda: dn.train(X, y, width=2**64), rf"^width=18446744073709551616: expected a whole number from 1 to {top}"),
        (lambda: dn.train(X, y, seed=-1), rf"^seed=-1: expected a whole number from 0 to {top}"),
        (lambda: dn.train(X, y, epochs=2.5), rf"^epochs=2.5: expected a whole number from 0 to {top}"),
        (lambda: dn.train(X, y, batch_size=0), rf"^batch_size=0: expected a whole number from 1 to {top}"),
        (lambda: dn.analyze(X, np.ones((1, 4)), X, points=-5), rf"^points=-5: expected a whole number from 1 to {top}"),
        (lambda: dn.analyze(X, np.ones((1, 4)), X, seed=-1), rf"^seed=-1: expected a whole number from 0 to {top}"),
        (lambda: dn.spectrum(-4), r"^dim=-4: expected a whole number from 2 to 1000000$"),
        (lambda: dn.spectrum(1), r"^dim=1: expected a whole number from 2 to 1000000$"),
        (lambda: dn.spectrum(3, max_degree=-1), r"^max_degree=-1: expected a whole number from 0 to \d+$"),
        (lambda: dn.slice_constant(-2), r"^d=-2: expected a whole number from 2 to 1000000$"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(MemoryError, match="would need about"):
        dn.train(X, y, width=10**12, epochs=1)
