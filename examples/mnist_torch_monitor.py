"""A 784-256-10 MLP with biases trained on MNIST in PyTorch, with the paper's diversity
regulariser on its hidden layer and diversenet's Monitor watching it: every epoch a
per-layer table (s_min of each layer's eNTK block, the network's NTK lambda_min, the loss
bound, the discrepancy of each layer's units, dead units) on fixed probe points; the
history is saved as JSON (and CSV, with pandas).

    python examples/mnist_torch_monitor.py                     # the full run (60000 images)
    python examples/mnist_torch_monitor.py --train-samples 2000 --epochs 2 --probe 50

MNIST is read by diversenet's loader from --mnist-dir, $DIVERSENET_MNIST_DIR or the cache
directory (`diversenet fetch mnist` fills it).
"""

import argparse
import json
import pathlib

import numpy as np
import torch
from torch import nn

import diversenet as dn
import diversenet.torch as dnt


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist-dir", default=None, help="directory of the four MNIST files")
    p.add_argument("--train-samples", type=int, default=60000)
    p.add_argument("--test-samples", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--lam", type=float, default=0.01, help="weight of the diversity regulariser")
    p.add_argument("--probe", type=int, default=100, help="probe points of the monitor")
    p.add_argument("--every", type=int, default=100, help="steps between the monitor's measurements")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="mnist_monitor_history.json", help="where the history is saved")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    X_train, y_train, X_test, y_test = dn.load_mnist(args.mnist_dir)
    rng = np.random.default_rng(args.seed)
    train_rows = rng.permutation(len(X_train))[: args.train_samples]
    X = torch.tensor(X_train[train_rows], dtype=torch.float32)
    y = torch.tensor(y_train[train_rows])
    Xt = torch.tensor(X_test[: args.test_samples], dtype=torch.float32)
    yt = torch.tensor(y_test[: args.test_samples])

    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    ce = nn.CrossEntropyLoss()
    # Probe points: a fixed sample of the training set (the Monitor measures on them).
    probe = rng.choice(len(X), size=min(args.probe, len(X)), replace=False)
    mon = dnt.Monitor(model, X[probe], y[probe], every=args.every)

    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(X))
        for start in range(0, len(X), args.batch_size):
            batch = order[start:start + args.batch_size]
            loss = ce(model(X[batch]), y[batch]) + args.lam * dnt.diversity(model[0].weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            mon.step(model)
        with torch.no_grad():
            test_error = (model(Xt).argmax(1) != yt).float().mean().item()
        mon.record(model, epoch=epoch, test_error=test_error)
        print(f"epoch {epoch}: test error {100 * test_error:.2f}%")
        print(mon.table())

    out = pathlib.Path(args.out)
    out.write_text(json.dumps(mon.history, indent=1))
    try:
        mon.to_pandas().to_csv(out.with_suffix(".csv"), index=False)
    except ImportError:
        pass
    print(f"{len(mon.history)} measurements saved to {out}")
    return mon


if __name__ == "__main__":
    main()
