"""examples/mnist_torch_monitor.py at a small size: a 784-256-10 MLP with biases trained on
MNIST with the diversity regulariser and the Monitor; the per-layer table every epoch and
the saved history."""

import importlib.util
import json
import os
import pathlib

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]


def mnist_dir():
    """$DIVERSENET_MNIST_DIR, else ../shared/data/mnist beside the repository, else None
    (the library then looks in its cache directory)."""
    if os.environ.get("DIVERSENET_MNIST_DIR"):
        return os.environ["DIVERSENET_MNIST_DIR"]
    beside = REPO.parent / "shared" / "data" / "mnist"
    return str(beside) if beside.is_dir() else None


def load_example():
    path = REPO / "examples" / "mnist_torch_monitor.py"
    spec = importlib.util.spec_from_file_location("mnist_torch_monitor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_mnist_example_monitors_a_784_256_10_mlp(tmp_path, capsys):
    example = load_example()
    out = tmp_path / "history.json"
    args = ["--train-samples", "1000", "--test-samples", "500", "--epochs", "2", "--probe", "30",
            "--every", "5", "--out", str(out)]
    if mnist_dir():
        args += ["--mnist-dir", mnist_dir()]
    mon = example.main(args)
    text = capsys.readouterr().out
    # 8 steps of 128 per epoch: measured at steps 0 and 5 of each epoch's count, and at
    # each epoch's end.
    history = json.loads(out.read_text())
    assert history == json.loads(json.dumps(mon.history))
    steps = [row["step"] for row in history]
    assert steps == [0, 5, 7, 10, 15, 15]
    assert [row.get("epoch") for row in history] == [None, None, 1, None, None, 2]
    for row in history:
        assert row["layers"] == 2 and row["width_1"] == 256 and row["width_2"] == 10
        assert row["ntk_lambda_min"] >= 0 and np.isfinite(row["loss"])
        assert 0 <= row["dead_units_1"] <= 256 and row["dead_units_2"] is None
        assert np.isfinite(row["discrepancy_1"]) and np.isfinite(row["s_min_1"])
    assert text.count("layer  width") == 2 and "epoch 2: test error" in text
    # Each epoch's table is the last measurement's, printed as Monitor.table renders it.
    assert mon.table(history[-1]) in text
