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
