"""What importing costs: the CLI, the result types and the renderers load no ML library.

`rai-audit version`, `--help` and `diff`, and any tool that only reads reports, must not pay
for torch, scikit-learn or Fairlearn (about 4 s on a 2-core machine).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import audit

HEAVY = ("torch", "sklearn", "fairlearn", "scipy", "captum", "shap")
LIGHT_MODULES = (
    "audit",
    "audit.cli",
    "audit.core.result",
    "audit.core.comparison",
    "audit.core.serialize",
    "audit.core.errors",
    "audit.core.request",
    "reports",
    "reports.html_report",
    "reports.markdown_report",
    "reports.sarif_report",
    "reports.junit_report",
    "reports.model_card",
    "reports.json_report",
    "reports.terminal",
)


def test_the_cli_and_the_renderers_load_no_ml_library() -> None:
    script = (
        "import importlib, sys\n"
        f"for name in {LIGHT_MODULES!r}: importlib.import_module(name)\n"
        f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""


def test_every_public_name_resolves_on_first_use() -> None:
    for name in audit.__all__:
        assert getattr(audit, name).__name__ == name
    assert set(dir(audit)) >= set(audit.__all__)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        audit.no_such_name  # noqa: B018


def test_gradients_for_captum_need_no_symbolic_shapes() -> None:
    """Captum's gradients are taken without torch.fx's symbolic shapes, whose import (sympy)
    cost 0.4 s of every audit of a torch model, and equal autograd's with a seed of ones."""
    script = (
        "import sys, torch\n"
        "from audit.explain.captum_attributions import summed_gradients\n"
        "torch.manual_seed(0)\n"
        "net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))\n"
        "rows = torch.randn(64, 5, requires_grad=True)\n"
        "def score(batch): return torch.sigmoid(net(batch)).squeeze(1)\n"
        "(mine,) = summed_gradients(score, (rows,))\n"
        "print('sympy' in sys.modules)\n"
        "(seeded,) = torch.autograd.grad(score(rows), rows, grad_outputs=torch.ones(64))\n"
        "print(torch.equal(mine, seeded), float(mine.abs().sum()) > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "True", "True"]
