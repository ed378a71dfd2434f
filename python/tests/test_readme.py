"""The README's three Python workflows run as written (in order, in one namespace; the
PyTorch network they analyse and train is a small one made here)."""

import pathlib
import re

import numpy as np
import torch

REPO = pathlib.Path(__file__).resolve().parents[2]


def readme_python_blocks():
    text = (REPO / "README.md").read_text()
    section = text[text.index("**Python**"):text.index("## Findings")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_python_workflows_run(tmp_path, monkeypatch, capsys):
    blocks = readme_python_blocks()
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 16, bias=False), torch.nn.ReLU(),
                              torch.nn.Linear(16, 2, bias=False))
    namespace = {"net": net, "torch": torch}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "m.safetensors").exists()
    model, X = namespace["model"], namespace["X"]
    assert model.predict(X).shape == (500,) and np.isfinite(namespace["a"]["s_min"])
    assert [row["step"] for row in namespace["mon"].history] == [0, 10, 20, 30, 40]
    assert capsys.readouterr().out.strip()
