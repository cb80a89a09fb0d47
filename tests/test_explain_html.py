"""The explanations section of the HTML report: charts, tables and escaping."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from conftest import FAST_N_BOOT, Workspace, linear

from audit import AuditRequest, AuditResult, run_audit
from audit.core.registry import CHECKS
from audit.explain.results import Explanations
from reports import render as render_formats
from reports.explain_charts import explanation_view, group_chart, importance_chart
from reports.html_report import environment, metric_meanings

HOSTILE = "<script>alert(1)</script>"
EXPLAIN_CHECKS = tuple(check for check in CHECKS if check.id.startswith("explain."))


def hostile_audit(workspace: Workspace) -> AuditResult:
    """A model that uses sex and a numeric column named like a script tag."""
    rng = np.random.default_rng(3)
    rows = 300
    sex = rng.choice(["F", "M"], size=rows)
    frame = pd.DataFrame(
        {
            HOSTILE: np.round(rng.normal(size=rows), 6),
            "other": np.round(rng.normal(size=rows), 6),
            "sex": sex,
            "label": rng.integers(0, 2, size=rows),
        }
    )
    metadata = {
        "format": "rai-audit/features-v1",
        "features": [
            {"column": HOSTILE, "kind": "numeric"},
            {"column": "other", "kind": "numeric"},
            {"column": "sex", "kind": "categorical", "categories": ["F", "M"]},
        ],
        "output_kind": "logits",
    }
    return explained(workspace, frame, linear([[1.0, 0.3, -1.0, 1.0]], [0.0]), metadata)


def explained(
    workspace: Workspace, frame: pd.DataFrame, module: Any, metadata: dict[str, Any]
) -> AuditResult:
    """The explanation checks' audit of a TorchScript model with feature metadata, by sex."""
    return run_audit(
        AuditRequest(
            data=workspace.table(frame),
            model=workspace.torchscript(module, "m.pt", metadata),
            target="label",
            sensitive=("sex",),
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            explain_samples=100,
        ),
        checks=EXPLAIN_CHECKS,
    )


def render(result: AuditResult) -> str:
    env = environment()
    env.globals["explain_view"] = explanation_view
    context = {"result": result, "level": 95, "metric_meaning": metric_meanings(result)}
    return env.get_template("explanations.html.j2").render(context)


def test_section_shows_charts_and_tables_and_escapes_column_names(workspace: Workspace) -> None:
    result = hostile_audit(workspace)
    html = render(result)
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html
    # Global importance and the per-group comparison of sex: two inline SVG charts.
    assert html.count("<svg") == 2
    explanations = result.explanations
    assert explanations is not None
    shap = explanations.methods["shap"]
    sex = shap.importance_of("sex")
    assert sex is not None and f"{100 * sex.share:.1f}%" in html
    # One flip-table row per ordered pair of sex groups, with the changed share.
    flip_table = html[html.index('<table class="explain-flips">') :]
    flip_table = flip_table[: flip_table.index("</table>")]
    flip_rows = re.findall(r"<tr><td>sex</td><th scope=\"row\">", flip_table)
    assert len(flip_rows) == len(explanations.flips) == 2
    for flip in explanations.flips:
        assert flip.changed_share is not None
        assert f"{100 * flip.changed_share:.1f}%" in flip_table
    # The methods compared are named as everywhere else in the section, not by their ids.
    agreement = html[html.index('<table class="explain-agreement">') :]
    agreement = agreement[: agreement.index("</table>")]
    compared = re.findall(r'<tr><th scope="row">([^<]+)</th>', agreement)
    names = {"SHAP (permutation)", "Integrated Gradients (Captum)", "GradientShap (Captum)"}
    assert compared and all(set(row.split(" and ")) <= names for row in compared), compared


def test_charts_draw_one_bar_per_column_and_one_marker_per_group(
    workspace: Workspace,
) -> None:
    result = hostile_audit(workspace)
    assert result.explanations is not None
    shap = result.explanations.methods["shap"]
    chart = str(importance_chart(shap, "importance"))
    assert chart.count('class="bar"') == len(shap.global_importance) == 3
    groups = [("F", 50, {"a": 0.2, "b": 0.8}), ("M", 50, {"a": 0.6, "b": 0.4})]
    drawn = str(group_chart(groups, ["a", "b"], "by sex"))
    # Circles for the first group, squares for the second, one per column plus the legend.
    assert drawn.count("<circle") == 3 and drawn.count("<rect") == 3
    assert "F (50 rows explained)" in drawn and "M (50 rows explained)" in drawn


def test_skipped_or_absent_explanations(workspace: Workspace) -> None:
    result = hostile_audit(workspace)
    skipped = Explanations(status="skipped", reason="turned off with --no-explain")
    assert "Not run: turned off with --no-explain." in render(replace(result, explanations=skipped))
    assert render(replace(result, explanations=None)).strip() == ""
    assert explanation_view(replace(result, explanations=None)) is None


def test_the_full_report_includes_the_section(workspace: Workspace) -> None:
    html = render_formats(hostile_audit(workspace), ["html"])["report.html"]
    assert '<a href="#explanations">Explanations</a>' in html
    assert '<section id="explanations"' in html
    assert HOSTILE not in html


def test_an_encoded_copy_is_named_and_kept_out_of_the_proxies(workspace: Workspace) -> None:
    rng = np.random.default_rng(4)
    rows = 300
    sex = rng.choice(["F", "M"], size=rows)
    frame = pd.DataFrame(
        {
            "other": np.round(rng.normal(size=rows), 6),
            "sex_code": np.where(sex == "M", 2, 1),
            "sex": sex,
            "label": rng.integers(0, 2, size=rows),
        }
    )
    metadata = {
        "format": "rai-audit/features-v1",
        "features": [
            {"column": "other", "kind": "numeric"},
            {"column": "sex_code", "kind": "numeric"},
        ],
        "output_kind": "logits",
    }
    result = explained(workspace, frame, linear([[1.0, 2.0]], [-3.0]), metadata)
    assert result.explanations is not None and result.explanations.encoded_copies
    (copy,) = result.explanations.encoded_copies
    shap = result.explanations.methods["shap"]
    carried = shap.copy_importance_of(copy)
    assert carried is not None
    html = render(result)
    assert "under other names: sex (encoded as sex_code)." in html
    copies = html[html.index('<table class="explain-copies">') :]
    copies = copies[: copies.index("</table>")]
    assert "<td>F: 1; M: 2</td>" in copies and "100.0%" in copies
    assert f"{100 * carried.share:.1f}%" in copies
    assert "sex_code (encodes sex)" in html
    assert "explain-proxies" not in html  # its only strong association is the copy
    flips = html[html.index('<table class="explain-flips">') :]
    assert "<tr><td>sex (written to sex_code)</td>" in flips
