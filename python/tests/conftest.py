"""Shared helpers: the release binary of the CLI, and small random networks."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli():
    """Runs the `diversenet` binary: $DIVERSENET_BIN, else target/release/diversenet
    (built by `cargo test --release` or `cargo build --release`)."""
    binary = pathlib.Path(os.environ.get("DIVERSENET_BIN", REPO / "target" / "release" / "diversenet"))
    if not binary.exists():
        pytest.fail(f"{binary} not found: run `cargo build --release` or set DIVERSENET_BIN")

    def run(*args, check=True):
        result = subprocess.run([str(binary), "--threads", "1", *map(str, args)], capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"diversenet {' '.join(map(str, args))} failed:\n{result.stderr}")
        return result

    return run


def random_network(rng, n, d, c=1, fixed=True):
    """W (n x d) Gaussian; V +/-1 alternating (c = 1) or Gaussian."""
    W = rng.normal(size=(n, d))
    if fixed and c == 1:
        V = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[None, :]
    else:
        V = rng.normal(size=(c, n))
    return W, V


def sphere_points(rng, m, d):
    X = rng.normal(size=(m, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def exact_angles(A):
    """theta_ij between the rows of A, as the references must take them: 2 atan2(|u - v|,
    |u + v|) of the unit rows u, v (accurate to a few ulps at every angle; 0 exactly on the
    diagonal), never arccos of a rounded cosine (off by up to 1e-8 near 0 and pi)."""
    U = A / np.linalg.norm(A, axis=1, keepdims=True)
    diff = np.linalg.norm(U[:, None, :] - U[None, :, :], axis=2)
    summ = np.linalg.norm(U[:, None, :] + U[None, :, :], axis=2)
    return 2 * np.arctan2(diff, summ)
