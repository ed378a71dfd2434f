"""The empirical NTK of ReLU MLPs with biases and depth: against Jacobians built explicitly
in numpy (row by row, by the chain rule), against torch.func (vmap(jacrev) + einsum) on a
trained nn.Sequential, eigenvalues against eigvalsh, gradients against autograd; the
loaders (torch modules, state dicts, .npz from numpy itself, safetensors through the CLI);
and the refusals."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev, vmap

import diversenet as dn


def random_layers(rng, widths, biases, dtype=np.float64):
    layers = []
    for (d, n), bias in zip(zip(widths[:-1], widths[1:]), biases):
        W = (rng.normal(size=(n, d)) / np.sqrt(d)).astype(dtype)
        b = (0.5 * rng.normal(size=n)).astype(dtype) if bias else None
        layers.append((W, b))
    return layers


def jacobian_blocks(layers, X):
    """J_l[i, j, :] = d f_j(x_i) / d(W_l, b_l) for every layer l, one sample and one output
    at a time (W_l row-major, then b_l)."""
    layers = [(np.asarray(W, np.float64), None if b is None else np.asarray(b, np.float64)) for W, b in layers]
    m, c = X.shape[0], layers[-1][0].shape[0]
    blocks = [np.zeros((m, c, W.size + (0 if b is None else b.size))) for W, b in layers]
    for i in range(m):
        hs, zs = [X[i]], []
        for W, b in layers:
            z = W @ hs[-1] + (0.0 if b is None else b)
            zs.append(z)
            hs.append(np.maximum(z, 0.0))
        for j in range(c):
            g = np.eye(c)[j]
            for t in reversed(range(len(layers))):
                W, b = layers[t]
                row = np.outer(g, hs[t]).ravel()
                blocks[t][i, j] = row if b is None else np.concatenate([row, g])
                if t > 0:
                    g = (W.T @ g) * (zs[t - 1] > 0)
    return blocks


def gram(J, outputs):
    m, c, _ = J.shape
    if outputs == "full":
        flat = J.reshape(m * c, -1)
        return flat @ flat.T
    return np.einsum("ijp,kjp->ik", J, J)


def assert_close(a, b, rel=1e-10):
    scale = np.max(np.abs(b))
    assert np.max(np.abs(np.asarray(a) - b)) <= rel * scale


CASES = [
    ([4, 6, c], biases, dtype)
    for c in (1, 3)
    for biases in ((False, False), (True, True))
    for dtype in (np.float64, np.float32)
] + [
    ([4, 5, 7, c], biases, dtype)
    for c in (1, 3)
    for biases in ((True, False, True), (False, False, False))
    for dtype in (np.float64, np.float32)
] + [([4, 4, 6, 5, 3], (True, True, False, True), np.float32), ([4, 4, 6, 5, 1], (False,) * 4, np.float64)]


@pytest.mark.parametrize("widths,biases,dtype", CASES)
def test_every_block_and_the_sum_match_explicit_jacobians(widths, biases, dtype):
    rng = np.random.default_rng(len(widths) * 10 + widths[-1])
    layers = random_layers(rng, widths, biases, dtype)
    X = rng.normal(size=(7, widths[0]))
    J = jacobian_blocks(layers, X)
    for outputs in ("full", "trace"):
        reference = [gram(Jl, outputs) for Jl in J]
        blocks = dn.ntk(layers, X, outputs=outputs, blocks=True)
        assert len(blocks) == len(layers)
        for got, want in zip(blocks, reference):
            assert_close(got, want)
        assert_close(dn.ntk(layers, X, outputs=outputs), sum(reference))
        assert_close(dn.ntk(layers, X, outputs=outputs, select=[1, len(layers)]), reference[0] + reference[-1])


def test_lambda_min_matches_eigvalsh_and_rank_deficiency_gives_zero():
    rng = np.random.default_rng(3)
    layers = random_layers(rng, [10, 20, 8, 3], (True, True, True))
    X = rng.normal(size=(12, 10))
    for outputs in ("full", "trace"):
        theta = dn.ntk(layers, X, outputs=outputs)
        want = np.linalg.eigvalsh(theta)[0]
        assert want > 1e-6 * np.linalg.eigvalsh(theta)[-1], "a well-conditioned case"
        assert dn.ntk_lambda_min(layers, X, outputs=outputs) == pytest.approx(want, rel=1e-8, abs=0)
        first = dn.ntk(layers, X, outputs=outputs, select=[1])
        assert dn.ntk_lambda_min(layers, X, outputs=outputs, select=[1]) == pytest.approx(
            np.linalg.eigvalsh(first)[0], rel=1e-8, abs=0)
    # The output layer has 3 x 9 parameters < 36 rows: rank-deficient, 0 exactly.
    assert dn.ntk_lambda_min(layers, X, select=[3]) == 0.0
    assert np.linalg.eigvalsh(dn.ntk(layers, X, select=[3]))[0] < 1e-10


def trained_sequential():
    """A 5-16-12-3 nn.Sequential with biases, trained with Adam in float64 on 40 points."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3)
    ).double()
    X = torch.randn(40, 5, dtype=torch.float64)
    labels = torch.randint(0, 3, (40,))
    Y = torch.nn.functional.one_hot(labels, 3).double()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = ((model(X) - Y) ** 2).sum() / (2 * 40)
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first, "the network did not train"
    return model, X, labels, Y


def torch_func_ntk(model, X, outputs):
    """The eNTK by torch.func: per-sample Jacobians with vmap(jacrev), contracted with
    einsum, per layer (the modules' weight and bias) and summed."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, x):
        return functional_call(model, p, (x.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(f), (None, 0))(params, X)
    m, c = X.shape[0], model[-1].out_features
    blocks = {}
    for name, J in jac.items():
        J = J.reshape(m, c, -1)
        if outputs == "full":
            block = torch.einsum("ajp,bkp->ajbk", J, J).reshape(m * c, m * c)
        else:
            block = torch.einsum("ajp,bjp->ab", J, J)
        layer = int(name.split(".")[0])
        blocks[layer] = blocks.get(layer, 0) + block
    return [blocks[k].numpy() for k in sorted(blocks)]


def test_a_trained_sequential_matches_torch_func():
    model, X, _, _ = trained_sequential()
    for outputs in ("full", "trace"):
        reference = torch_func_ntk(model, X, outputs)
        for got, want in zip(dn.ntk(model, X, outputs=outputs, blocks=True), reference):
            assert_close(got, want)
        theta = sum(reference)
        assert_close(dn.ntk(model, X, outputs=outputs), theta)
        # Any two backward-stable eigensolvers agree to about eps ||Theta|| (Weyl), however
        # small lambda_min is against lambda_max.
        eig = torch.linalg.eigvalsh(torch.from_numpy(theta)).numpy()
        assert abs(dn.ntk_lambda_min(model, X, outputs=outputs) - eig[0]) <= 1e-10 * eig[-1]
    # The state dict and the (W, b) pairs of the same modules give the same matrix.
    pairs = [(model[i].weight, model[i].bias) for i in (0, 2, 4)]
    assert_close(dn.ntk(pairs, X), dn.ntk(model, X), rel=0)
    assert_close(dn.ntk(model.state_dict(), X.numpy()), dn.ntk(model, X), rel=0)


def test_analyze_gives_autograds_gradients_and_bounds_that_hold():
    model, X, labels, Y = trained_sequential()
    a = dn.analyze(model, X, labels.numpy(), all_points=True)
    model.zero_grad()
    loss = ((model(X) - Y) ** 2).sum() / (2 * 40)
    loss.backward()
    assert a["loss"] == pytest.approx(loss.item(), rel=1e-12)
    assert [layer["layer"] for layer in a["layers"]] == [1, 2, 3]
    total = 0.0
    for layer, module in zip(a["layers"], (model[0], model[2], model[4])):
        norm_sq = module.weight.grad.pow(2).sum().item() + module.bias.grad.pow(2).sum().item()
        total += norm_sq
        assert layer["grad_norm"] == pytest.approx(np.sqrt(norm_sq), rel=1e-10)
        if layer["bound"] is not None:
            assert a["loss"] <= layer["bound"] * (1 + 1e-9)
    network = a["network"]
    assert network["grad_norm"] == pytest.approx(np.sqrt(total), rel=1e-10)
    assert network["bound"] is not None and a["loss"] <= network["bound"] * (1 + 1e-9)
    theta = dn.ntk(model, X)
    eig = np.linalg.eigvalsh(theta)
    assert abs(network["lambda_min"] - eig[0]) <= 1e-10 * eig[-1]  # eps ||Theta|| (Weyl)
    assert network["lambda_max"] == pytest.approx(eig[-1], rel=1e-8, abs=0)  # the Krylov tolerance
    assert network["condition_number"] == pytest.approx(network["lambda_max"] / network["lambda_min"], rel=1e-12)
    assert "lambda_min_k" not in a  # the paper's instruments are for the paper's network
    trace = dn.analyze(model, X, labels.numpy(), all_points=True, ntk="trace")
    assert trace["ntk_size"] == 40 and trace["network"]["bound"] is None and "bound_note" in trace


def test_the_paper_network_as_pairs_agrees_with_analyze_of_w_and_v():
    rng = np.random.default_rng(5)
    W = rng.normal(size=(30, 6))
    V = np.where(np.arange(30) % 2 == 0, 1.0, -1.0)[None, :]
    X = rng.normal(size=(50, 6))
    y = rng.normal(size=50)
    paper = dn.analyze(W, V, X, y, points=40, seed=3)
    a = dn.analyze([(W, None), (V, None)], X, y, points=40, seed=3)
    for key in ("s_min", "loss", "grad_norm", "bound", "lambda_min_k", "e_w_norm"):
        assert a[key] == pytest.approx(paper[key], rel=1e-10), key
    assert a["layers"][0]["s_min"] == pytest.approx(paper["s_min"], rel=1e-10)
    assert a["layers"][0]["grad_norm"] == pytest.approx(paper["grad_norm"], rel=1e-10)
    # Theta_1 is D^T D: s_m(D) of the function of (W, V).
    theta1 = dn.ntk([(W, None), (V, None)], X, select=[1])
    assert np.sqrt(np.linalg.eigvalsh(theta1)[0]) == pytest.approx(dn.smallest_singular_value(W, V, X), rel=1e-8)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_files_written_by_numpy_load(tmp_path, save):
    rng = np.random.default_rng(8)
    layers = random_layers(rng, [4, 6, 5, 2], (True, False, True), np.float32)
    path = tmp_path / "mlp.npz"
    save(path, W1=layers[0][0], b1=layers[0][1], W2=layers[1][0], W3=layers[2][0], b3=layers[2][1])
    X = rng.normal(size=(9, 4))
    assert_close(dn.ntk(str(path), X), dn.ntk(layers, X), rel=0)
    save(tmp_path / "bad.npz", W1=layers[0][0], gamma=np.ones(6))
    with pytest.raises(OSError, match="entry `gamma`: expected entries W1, b1"):
        dn.ntk(tmp_path / "bad.npz", X)


def test_a_pytorch_file_gives_the_same_numbers_in_the_cli(cli, tmp_path):
    from safetensors.torch import save_file

    model, X, labels, _ = trained_sequential()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "mlp.safetensors"))
    np.save(tmp_path / "X.npy", X.numpy())
    np.save(tmp_path / "y.npy", labels.numpy())
    report = tmp_path / "a.json"
    out = cli("analyze", "--model", tmp_path / "mlp.safetensors", "--data",
              f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}", "--all-data", "--all-points", "--json", report)
    assert "a ReLU MLP 5-16-12-3" in out.stdout
    got = json.loads(report.read_text())
    want = dn.analyze(model, X, labels.numpy(), all_points=True)
    for key in ("lambda_min", "lambda_max", "bound"):
        assert got["network"][key] == pytest.approx(want["network"][key], rel=1e-12), key


def test_other_modules_and_bad_arguments_are_refused():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 4))
    cases = [
        (torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)),
         "module 1 is a Tanh: only Linear and ReLU"),
        (torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(), torch.nn.Linear(3, 1)),
         "module 1 is a BatchNorm1d"),
        (torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.ReLU(), torch.nn.Linear(2, 1)),
         "module 0 is a Conv1d"),
        (torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), "the output layer must be a Linear"),
        ({"0.weight": np.ones((3, 4)), "0.running_mean": np.zeros(3)}, "`0.running_mean` belongs to a normalisation"),
        ({"0.weight": np.ones((3, 1, 2, 2))}, "`0.weight` has shape [3, 1, 2, 2]: a convolution?"),
        ([(np.ones((3, 4)), None), (np.ones((1, 2)), None)], "`network[1][0]` is 1x2"),
        ([(np.ones((3, 4)), np.ones((3, 1)))], "network[0][1] has shape [3, 1]"),
        ([(np.ones((3, 4)), np.array([1.0, np.nan, 0.0]))], "`network[0][1]` holds NaN"),
    ]
    for network, message in cases:
        with pytest.raises(ValueError, match=__import__("re").escape(message)):
            dn.ntk(network, X)
    layers = [(np.ones((3, 4)), None), (np.ones((1, 3)), None)]
    with pytest.raises(ValueError, match="select=: layer 3: the network has layers 1 to 2"):
        dn.ntk_lambda_min(layers, X, select=[3])
    with pytest.raises(ValueError, match="invalid setting outputs=: `diagonal`: expected full"):
        dn.ntk(layers, X, outputs="diagonal")
    with pytest.raises(ValueError, match="X: 5 features per sample, but the network takes 4 inputs"):
        dn.ntk(layers, np.ones((2, 5)))
    with pytest.raises(TypeError, match="network"):
        dn.ntk(3.5, X)
    with pytest.raises(ValueError, match="monte_carlo="):
        dn.analyze([(np.ones((3, 4)), np.ones(3)), (np.ones((1, 3)), None)], X, monte_carlo=1000)


def test_the_package_does_not_import_torch_unless_handed_a_torch_object():
    code = (
        "import sys, numpy as np, diversenet as dn\n"
        "layers = [(np.eye(3), np.ones(3)), (np.ones((1, 3)), None)]\n"
        "dn.ntk(layers, np.eye(3)); dn.analyze(layers, np.eye(3), np.zeros(3))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ctrl_c_stops_the_entk_and_what_does_not_fit_is_refused():
    """SIGINT while the eNTK of 3000 points of a 784-500-500-10 MLP is built and solved
    (the trace form, 3000 x 3000) raises KeyboardInterrupt from ntk_lambda_min, ntk and
    analyze: the library's Cancel asks for signals between panels and solver steps (the
    Rust tests check that each step asks it). Afterwards the package works, and a matrix
    beyond the memory budget is refused before it is built, naming the rows of X that fit."""
    from test_arguments import interrupted_inside

    rng = np.random.default_rng(8)
    layers = random_layers(rng, [784, 500, 500, 10], [True, True, True])
    X = rng.normal(size=(3000, 784))
    interrupted_inside(lambda: dn.ntk_lambda_min(layers, X, outputs="trace"))
    interrupted_inside(lambda: dn.ntk(layers, X, outputs="trace"))
    interrupted_inside(lambda: dn.analyze(layers, X, ntk="trace", all_points=True))
    small = random_layers(rng, [4, 6, 2], [True, False])
    assert dn.ntk_lambda_min(small, rng.normal(size=(5, 4))) > 0
    with pytest.raises(MemoryError, match=r"^ntk_lambda_min on 200000 rows of X would need about .* rows of X fit"):
        dn.ntk_lambda_min(small, np.zeros((200_000, 4)))
    with pytest.raises(ValueError, match=r"^invalid setting select=: it does not apply here: blocks= returns"):
        dn.ntk(small, rng.normal(size=(5, 4)), blocks=True, select=[1])
