"""Model files between Python and the CLI, foreign (PyTorch-named) weights, and training."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import diversenet as dn
from conftest import random_network, sphere_points


def test_a_model_trained_by_the_cli_loads_in_python(cli, tmp_path):
    out = tmp_path / "run"
    cli("train", "--data", "synthetic", "--dim", 5, "--train-samples", 120, "--test-samples", 40,
        "--width", 8, "--epochs", 2, "--out", out, "--quiet")
    model = dn.load_model(out / "model.safetensors")
    config = json.loads((out / "config.json").read_text())
    assert model.config == config and model.foreign is False
    assert model.targets == "scalar" and model.input_scaling == "sphere"
    raw = load_file(str(out / "model.safetensors"))  # Python's own safetensors reader
    np.testing.assert_array_equal(model.W, raw["W"].astype(np.float64))
    np.testing.assert_array_equal(model.V, raw["V"].astype(np.float64))
    # Saved again from Python with its config, it evaluates in the CLI exactly like the original.
    again = tmp_path / "again.safetensors"
    dn.save_model(again, model.W, model.V, model.config, targets=model.targets)
    flags = ["--data", "synthetic", "--dim", 5, "--train-samples", 120, "--test-samples", 40]
    first = json.loads(cli("eval", "--model", out / "model.safetensors", *flags).stdout)
    second = json.loads(cli("eval", "--model", again, *flags).stdout)
    assert second["loss"] == first["loss"] and second["samples"] == 40


def test_weights_saved_from_python_analyze_in_the_cli_as_in_python(cli, tmp_path):
    rng = np.random.default_rng(8)
    W, V = random_network(rng, n=16, d=4)
    X = sphere_points(rng, m=30, d=4)
    y = rng.normal(size=30)
    dn.save_model(tmp_path / "m.safetensors", W, V)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    report = tmp_path / "a.json"
    result = cli("analyze", "--model", tmp_path / "m.safetensors",
                 "--data", f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}",
                 "--all-data", "--all-points", "--json", report)
    assert "foreign weights" in result.stdout and "--input-scaling raw" in result.stdout
    from_cli = json.loads(report.read_text())
    from_python = dn.analyze(W, V, X, y, all_points=True)
    # Both say which input scaling was applied to X; the CLI also which rows of the file.
    assert from_python.pop("input_scaling") == "raw" == from_cli.pop("input_scaling")
    assert from_cli.pop("split") == "all"
    assert set(from_cli) == set(from_python)
    for key, value in from_python.items():
        if key == "seconds":
            continue
        if isinstance(value, float):
            assert from_cli[key] == pytest.approx(value, rel=1e-9), key
        else:
            assert from_cli[key] == value, key
    # The same from two .npy files of weights.
    np.save(tmp_path / "W.npy", W)
    np.save(tmp_path / "V.npy", V)
    report2 = tmp_path / "b.json"
    cli("analyze", "--weights", f"{tmp_path / 'W.npy'},{tmp_path / 'V.npy'}",
        "--data", f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}", "--all-data", "--all-points", "--json", report2)
    assert json.loads(report2.read_text())["s_min"] == from_cli["s_min"]


def test_pytorch_names_are_read_and_biases_measured_by_analyze_only(cli, tmp_path):
    rng = np.random.default_rng(9)
    # nn.Sequential(Linear(4, 10, bias=False), ReLU(), Linear(10, 3, bias=False)).state_dict()
    W = rng.normal(size=(10, 4)).astype(np.float32)
    V = rng.normal(size=(3, 10)).astype(np.float32)
    torch_file = tmp_path / "torch.safetensors"
    save_file({"0.weight": W, "2.weight": V}, str(torch_file))
    model = dn.load_model(torch_file)
    assert model.foreign is True and model.config is None
    np.testing.assert_array_equal(model.W, W.astype(np.float64))
    X = sphere_points(rng, m=25, d=4)
    labels = rng.integers(0, 3, size=25)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", labels)
    data = ["--data", f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}", "--all-data"]
    report = tmp_path / "a.json"
    cli("analyze", "--model", torch_file, *data, "--all-points", "--json", report)
    assert json.loads(report.read_text())["s_min"] == pytest.approx(
        dn.smallest_singular_value(W, V, X), rel=1e-9)
    evaluated = json.loads(cli("eval", "--model", torch_file, *data).stdout)
    logits = np.maximum(X @ W.T.astype(np.float64), 0) @ V.T.astype(np.float64)
    assert evaluated["error"] == pytest.approx(np.mean(logits.argmax(1) != labels))
    assert evaluated["input_scaling"] == "raw" and evaluated["samples"] == 25

    biased = tmp_path / "biased.safetensors"
    save_file({"0.weight": W, "0.bias": np.zeros(10, np.float32), "2.weight": V}, str(biased))
    # `analyze` measures the MLP with its bias layer by layer; `eval` (the paper's network)
    # refuses it with how to export without one.
    assert "a ReLU MLP 4-10-3" in cli("analyze", "--model", biased, *data).stdout
    failed = cli("eval", "--model", biased, *data, check=False)
    assert failed.returncode == 1
    assert "`0.bias` is a bias" in failed.stderr and "bias=False" in failed.stderr
    with pytest.raises(OSError, match="has no biases"):
        dn.load_model(biased)


def test_train_in_python_matches_the_cli_bit_for_bit(cli, tmp_path):
    rng = np.random.default_rng(10)
    X = rng.normal(size=(80, 5))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    options = dict(optimizer="sgd", lr=0.05, batch_size=16, reg="discrepancy", lambda_=0.1, precision="f64")
    result = dn.train(X, y, width=12, epochs=3, seed=4, **options)  # every row, as --test-fraction 0
    out = tmp_path / "run"
    cli("train", "--data", f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}", "--width", 12, "--epochs", 3,
        "--seed", 4, "--optimizer", "sgd", "--lr", 0.05, "--batch-size", 16, "--reg", "discrepancy",
        "--lambda", 0.1, "--precision", "f64", "--exact-metrics", 1, "--test-fraction", 0, "--out", out, "--quiet")
    from_cli = dn.load_model(out / "model.safetensors")
    np.testing.assert_array_equal(result.W, from_cli.W)
    # The CLI records its data files, Python its arrays (shapes and SHA-256s); every
    # training setting is the same.
    cli_config = {k: v for k, v in from_cli.config.items() if k != "data"}
    assert "spec" in from_cli.config["data"] and result.config["data"]["arrays"]["train"] == list(X.shape)
    assert {k: v for k, v in result.config.items() if k != "data"} == cli_config
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["train_loss"] for m in result.metrics] == [m["train_loss"] for m in lines]
    assert len(result.metrics) == 4 and result.metrics[-1]["regularizers"]["discrepancy"] > 0
    # Saved from Python, it is the CLI's model.
    saved = tmp_path / "py.safetensors"
    dn.save_model(saved, result.W, result.V, result.config, targets=result.targets)
    saved_config = dn.load_model(saved).config
    assert saved_config.pop("data") == result.config["data"] and saved_config == cli_config


def test_sampled_regulariser_in_python_matches_the_cli_and_differs_from_exact(cli, tmp_path):
    rng = np.random.default_rng(12)
    X = rng.normal(size=(64, 6))
    y = np.cos(X[:, 0]) - X[:, 2]
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    options = dict(lr=0.02, batch_size=16, reg="discrepancy", lambda_=1.0, precision="f64")
    sampled = dn.train(X, y, width=20, epochs=2, seed=5, reg_sample=4, **options)
    exact = dn.train(X, y, width=20, epochs=2, seed=5, **options)
    assert not np.array_equal(sampled.W, exact.W)
    out = tmp_path / "run"
    cli("train", "--data", f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}", "--width", 20, "--epochs", 2,
        "--seed", 5, "--lr", 0.02, "--batch-size", 16, "--reg", "discrepancy", "--lambda", 1.0,
        "--precision", "f64", "--reg-sample", 4, "--exact-metrics", 1, "--test-fraction", 0, "--out", out, "--quiet")
    np.testing.assert_array_equal(sampled.W, dn.load_model(out / "model.safetensors").W)
    with pytest.raises(ValueError, match="^reg_sample=0: expected a whole number from 1 to"):
        dn.train(X, y, width=20, epochs=1, reg="discrepancy", lambda_=1.0, reg_sample=0)


def test_train_takes_classes_a_test_set_and_standardised_inputs(tmp_path):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(60, 4)) * 3 + 1
    labels = (X[:, 0] > 1).astype(np.int64)
    r = dn.train(X, labels, width=6, epochs=2, X_test=X[:20], y_test=labels[:20], input_scaling="standardise")
    assert r.targets == "classes" and r.config["loss"] == "cross-entropy"
    assert r.V.shape == (2, 6) and r.input_mean.shape == (4,)
    assert "test_error" in r.metrics[-1]
    path = tmp_path / "m.safetensors"
    dn.save_model(path, r.W, r.V, r.config, targets="classes",
                  input_mean=r.input_mean, input_scale=r.input_scale)
    back = dn.load_model(path)
    np.testing.assert_array_equal(back.input_scale, r.input_scale)
    with pytest.raises(ValueError, match=r"^input_mean: 2 values, but the inputs have 4 dimensions: expected shape \(4,\)"):
        dn.save_model(path, r.W, r.V, r.config, input_mean=r.input_mean[:2],
                      input_scale=r.input_scale)


def test_decoupled_weight_decay_is_linear_in_its_coefficient_and_matches_the_cli(cli, tmp_path):
    # One full-batch step: W1 = W0 (1 - lr wd) - lr grad(W0), affine in wd with slope -lr W0.
    rng = np.random.default_rng(12)
    X = rng.normal(size=(40, 3))
    y = X[:, 0] - X[:, 2] ** 2
    step = lambda wd: dn.train(X, y, width=7, epochs=1, seed=2, optimizer="gd", lr=0.1,
                               precision="f64", weight_decay=wd).W
    w0, w1, w2 = step(0.0), step(0.5), step(1.0)
    assert np.abs(w1 - w0).max() > 1e-3
    np.testing.assert_allclose(w2 - w0, 2 * (w1 - w0), rtol=1e-9, atol=1e-14)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "run"
    cli("train", "--data", f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}", "--width", 7, "--epochs", 1,
        "--seed", 2, "--optimizer", "gd", "--lr", 0.1, "--precision", "f64", "--weight-decay", 0.5,
        "--test-fraction", 0, "--out", out, "--quiet")
    np.testing.assert_array_equal(dn.load_model(out / "model.safetensors").W, w1)
    with pytest.raises(ValueError, match="^invalid setting weight_decay=: 10 times the largest learning rate"):
        dn.train(X, y, width=7, epochs=1, lr=0.1, weight_decay=10.0)


def test_a_model_trained_in_python_on_labels_3_and_7_is_scored_by_the_cli_on_those_labels(cli, tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 4))
    y = np.where(X[:, 0] + 0.3 * X[:, 1] > 0, 7, 3)
    model = dn.train(X, y, width=16, epochs=5, seed=0)
    assert list(model.classes_) == [3, 7]
    model.save(tmp_path / "m.safetensors")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    data = f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}"
    result = json.loads(cli("eval", "--model", tmp_path / "m.safetensors", "--data", data,
                            "--all-data").stdout)
    # Label 7 is output 1, as in Python (not class 7 of an 8-class problem).
    assert result["samples"] == 120
    assert result["error"] == pytest.approx(1.0 - model.score(X, y), abs=1e-12)
    # A label that is none of the model's classes is refused, naming the targets' file.
    y[5] = 5
    np.save(tmp_path / "y.npy", y)
    refused = cli("eval", "--model", tmp_path / "m.safetensors", "--data", data, "--all-data",
                  check=False)
    assert refused.returncode == 1, refused.stderr
    assert "y.npy" in refused.stderr and "label 5 of sample 5 is not one of the model's classes (3, 7)" in refused.stderr
