"""diversenet.torch.Monitor: what it records on its probe points, against explicit
Jacobians from torch.autograd, dead units counted in torch and the discrepancy from exact
angles; when it measures (the cost is paid on measuring steps only); what it refuses."""

import math
import sys

import numpy as np
import pytest
import torch

import diversenet as dn
import diversenet.torch as dnt


def mlp(widths, bias, seed=0):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(a, b, bias=bias), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).double()


def jacobian_blocks(model, X):
    """Per Linear layer, J_l (m c x p_l): the Jacobian of the m c outputs with respect to
    the layer's weight and bias, by torch.autograd.functional.jacobian."""
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    params = [p for m in linear for p in ([m.weight] + ([m.bias] if m.bias is not None else []))]
    names = [(i, p) for i, m in enumerate(linear) for p in ([m.weight] + ([m.bias] if m.bias is not None else []))]

    def f(*ps):
        out = X
        k = 0
        for i, m in enumerate(linear):
            w = ps[k]; k += 1
            b = None
            if m.bias is not None:
                b = ps[k]; k += 1
            out = torch.nn.functional.linear(out, w, b)
            if i < len(linear) - 1:
                out = torch.relu(out)
        return out.reshape(-1)

    jac = torch.autograd.functional.jacobian(f, tuple(p.detach() for p in params))
    blocks = [0] * len(linear)
    for (i, _), J in zip(names, jac):
        J = J.reshape(J.shape[0], -1)
        blocks[i] = blocks[i] + J @ J.T
    return [b.numpy() for b in blocks]


def l2_discrepancy_exact(W):
    """(1/n^2) sum_{k,l} ((pi - theta_kl) / (2 pi))^2 - c_d with angles from
    2 atan2(|u - v|, |u + v|) of the unit rows."""
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    diff = np.linalg.norm(U[:, None, :] - U[None, :, :], axis=2)
    summ = np.linalg.norm(U[:, None, :] + U[None, :, :], axis=2)
    theta = 2 * np.arctan2(diff, summ)
    n = len(W)
    return (((math.pi - theta) / (2 * math.pi)) ** 2).sum() / n**2 - dn.slice_constant(W.shape[1])


@pytest.mark.parametrize("widths, bias", [((3, 6, 2), True), ((3, 6, 2), False), ((4, 5, 4, 3), True)])
def test_a_measurement_is_the_networks_entk_dead_units_and_discrepancy(widths, bias):
    model = mlp(widths, bias)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, widths[0]))
    y = rng.integers(widths[-1], size=7)
    if bias:  # some hidden units dead on every probe point
        with torch.no_grad():
            model[0].bias.fill_(-0.5)
    mon = dnt.Monitor(model, X, y, every=1)
    row = mon.step(model)
    assert row is mon.history[0] and row["step"] == 0 and row["layers"] == len(widths) - 1
    blocks = jacobian_blocks(model, torch.from_numpy(X))
    theta = sum(blocks)
    eig = np.linalg.eigvalsh(theta)
    assert abs(row["ntk_lambda_min"] - eig[0]) <= 1e-10 * eig[-1]
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    h = torch.from_numpy(X)
    for l, (block, module) in enumerate(zip(blocks, linear), start=1):
        e = np.linalg.eigvalsh(block)
        assert abs(row[f"lambda_min_{l}"] - e[0]) <= 1e-10 * e[-1], l
        assert row[f"width_{l}"] == module.out_features
        W = module.weight.detach().numpy()
        with torch.no_grad():
            z = module(h)
        if l < len(linear):  # hidden layers: their units' discrepancy and dead units
            assert row[f"discrepancy_{l}"] == pytest.approx(l2_discrepancy_exact(W), rel=1e-9, abs=1e-12)
            dead = int((z <= 0).all(dim=0).sum())
            assert row[f"dead_units_{l}"] == dead, l
            h = torch.relu(z)
        else:
            assert row[f"dead_units_{l}"] is None and row[f"discrepancy_{l}"] is None
    # The squared loss sum ||f(x) - onehot(y)||^2 / (2 m) and the network's bound.
    with torch.no_grad():
        f = model(torch.from_numpy(X)).numpy()
    loss = ((f - np.eye(widths[-1])[y]) ** 2).sum() / (2 * 7)
    assert row["loss"] == pytest.approx(loss, rel=1e-12)
    assert row["bound"] is None or loss <= row["bound"] * (1 + 1e-9)
    assert set(mon.table().splitlines()[0].split()) >= {"step", "0:", "NTK"}


def test_it_measures_every_k_steps_and_only_then():
    model = mlp((3, 4, 1), True)
    X = np.random.default_rng(2).normal(size=(5, 3))
    calls = []
    real = dnt.monitor._dn.analyze

    def counting(*args, **kwargs):
        calls.append(args[1].shape)
        return real(*args, **kwargs)

    mon = dnt.Monitor(model, X, every=3)
    dnt.monitor._dn.analyze = counting
    try:
        rows = [mon.step(model) for _ in range(7)]
        mon.record(model, epoch=1)
    finally:
        dnt.monitor._dn.analyze = real
    assert [r is not None for r in rows] == [True, False, False, True, False, False, True]
    assert [r["step"] for r in mon.history] == [0, 3, 6, 6]
    assert mon.history[-1]["epoch"] == 1 and mon.history[0]["loss"] is None
    assert calls == [(5, 3)] * 4  # once per measurement, on the 5 probe points


def test_the_probe_set_is_bounded_by_a_seeded_sample():
    model = mlp((3, 4, 2), True)
    X = np.random.default_rng(3).normal(size=(50, 3))
    y = np.arange(50) % 2
    a = dnt.Monitor(model, X, y, max_points=10, seed=4)
    b = dnt.Monitor(model, torch.from_numpy(X), torch.from_numpy(y), max_points=10, seed=4)
    assert len(a.probe_indices) == 10 and np.array_equal(a.probe_indices, b.probe_indices)
    np.testing.assert_array_equal(a.X_probe, X[a.probe_indices])
    np.testing.assert_array_equal(a.y_probe, y[a.probe_indices])
    assert dnt.Monitor(model, X[:10], y[:10], max_points=10).probe_indices is None


def test_bad_models_and_arguments_are_refused_naming_them():
    X = np.zeros((4, 3))
    cases = [
        (lambda: dnt.Monitor(torch.nn.Linear(3, 2), X), r"^model: expected an nn.Sequential"),
        (lambda: dnt.Monitor(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh()), X), r"^model: .* it has Tanh"),
        (lambda: dnt.Monitor(mlp((3, 4, 2), True), X, every=0), r"^every=0: expected a whole number of at least 1"),
        (lambda: dnt.Monitor(mlp((3, 4, 2), True), X, max_points=-1), r"^max_points=-1"),
        (lambda: dnt.Monitor(mlp((3, 4, 2), True), np.zeros((4, 5))), r"^X_probe: expected shape \(m, 3\)"),
        (lambda: dnt.Monitor(mlp((3, 4, 2), True), X, np.zeros(3)), r"^y_probe: 3 targets for 4 probe points"),
        (lambda: dnt.Monitor(mlp((3, 4, 2), True), X, ntk="diag"), r"^ntk='diag'"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_to_pandas_needs_pandas_and_gives_the_history(monkeypatch):
    model = mlp((3, 4, 1), True)
    mon = dnt.Monitor(model, np.random.default_rng(5).normal(size=(4, 3)), every=1)
    mon.step(model)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"needs pandas \(pip install pandas\)"):
        mon.to_pandas()

    class FakePandas:
        @staticmethod
        def DataFrame(rows):
            return ("frame", rows)

    monkeypatch.setitem(sys.modules, "pandas", FakePandas)
    assert mon.to_pandas() == ("frame", mon.history)
