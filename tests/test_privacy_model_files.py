"""Pickle-based model files: scanned before loading, refused on dangerous imports even with
--trust-model, loaded only when --allow-unsafe-imports names every one of them.

The dangerous files made here never run anything harmful: one holds a reference to
``os.system`` (resolved on load, never called), one a reduce to ``os.getcwd``.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from conftest import FAST_N_BOOT, Cli, Workspace, assert_one_line_error, default_module
from sklearn.linear_model import LogisticRegression

from audit import AuditRequest, run_audit
from audit.core.errors import ModelError
from audit.core.registry import CHECKS
from audit.models.loading import load_model
from audit.privacy import model_files

PRIVACY_CHECKS = [check for check in CHECKS if check.id.startswith("privacy.")]


class CallsGetcwd:
    """Unpickles as the result of ``os.getcwd()``: a reduce, and a harmless one."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (os.getcwd, ())


def fitted(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(frame[["x2", "x1"]], frame["label"])


def test_the_scanner_flags_os_system_and_the_file_is_refused_even_when_trusted(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    estimator = fitted(frame)
    estimator.hook = os.system  # pickled as a global reference, never called
    path = workspace.pickle(estimator)
    scan = model_files.scan_model_file(path, "pickle", frozenset())
    flagged = {(item.module, item.name): item.safety for item in scan.imports}
    assert flagged[(os.system.__module__, "system")] == "dangerous"
    assert scan.scanned and scan.complete and scan.scanner.startswith("picklescan ")
    with pytest.raises(ModelError) as refused:
        load_model(path, trust=True)
    message = str(refused.value)
    assert "os.system" in message and "--allow-unsafe-imports os.system" in message
    # Naming it loads the file; either spelling of the module works.
    for allowed in ("os.system", f"{os.system.__module__}.system"):
        loaded = load_model(path, trust=True, allow_unsafe_imports=(allowed,))
        recorded = loaded.extra["file_scan"]
        assert recorded.allowed_unsafe == ("os.system",)
        assert loaded.adapter.predict_proba(np.zeros((2, 2), np.float32)).shape == (2, 2)


def test_a_reduce_to_os_getcwd_is_refused_then_allowed(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    estimator = fitted(frame)
    estimator.note = CallsGetcwd()
    path = workspace.pickle(estimator)
    with pytest.raises(ModelError, match=r"os\.getcwd"):
        load_model(path, trust=True, allow_unsafe_imports=("os.system",))
    loaded = load_model(path, trust=True, allow_unsafe_imports=("os.getcwd",))
    assert loaded.extra["file_scan"].allowed_unsafe == ("os.getcwd",)


def test_the_load_guard_catches_what_a_compressed_joblib_file_hides(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    estimator = fitted(frame)
    estimator.hook = os.system
    path = workspace.root / "model.joblib"
    # joblib writes raw array bytes into the (here zlib-compressed) stream, where a static
    # reader stops before the hook; the guard checks each import as the file loads.
    joblib.dump(estimator, path, compress=3)
    with pytest.raises(ModelError, match=r"os\.system"):
        load_model(path, trust=True)
    loaded = load_model(path, trust=True, allow_unsafe_imports=("os.system",))
    assert loaded.extra["file_scan"].allowed_unsafe == ("os.system",)


def test_clean_pickles_load_and_record_their_scan(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    module = workspace.pickled_module(default_module())
    loaded = load_model(module, trust=True)
    scan = loaded.extra["file_scan"]
    assert scan.format == "torch-pickle" and scan.load_guard
    assert not [item for item in scan.imports if item.safety == "dangerous"]
    assert ("torch.nn.modules.linear", "Linear") in {(i.module, i.name) for i in scan.imports}
    plain = workspace.joblib(fitted(frame))
    assert load_model(plain, trust=True).extra["file_scan"].format == "joblib"


def test_report_and_finding_for_an_allowed_unsafe_import(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    estimator = fitted(frame)
    estimator.hook = os.system
    request = AuditRequest(
        data=workspace.table(frame),
        model=workspace.pickle(estimator),
        target="label",
        sensitive=("sex",),
        features=("x2", "x1"),
        trust_model=True,
        allow_unsafe_imports=("os.system",),
        search_config=False,
        policy_overrides={"n_boot": FAST_N_BOOT},
    )
    result = run_audit(request, PRIVACY_CHECKS)
    assert result.privacy.model_file.allowed_unsafe == ("os.system",)
    (finding,) = [f for f in result.findings if f.check == "privacy.unsafe_model_file"]
    assert finding.severity.value == "high"
    assert finding.evidence.value == 1.0 and "os.system" in finding.title


def test_without_the_scanner_a_trusted_pickle_loads_with_a_medium_finding(
    workspace: Workspace, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_files, "scanner_version", lambda: None)
    request = AuditRequest(
        data=workspace.table(frame),
        model=workspace.pickle(fitted(frame)),
        target="label",
        sensitive=("sex",),
        features=("x2", "x1"),
        trust_model=True,
        search_config=False,
        policy_overrides={"n_boot": FAST_N_BOOT},
    )
    result = run_audit(request, PRIVACY_CHECKS)
    scan = result.privacy.model_file
    assert (scan.scanned, scan.load_guard) == (False, False)
    assert "rai-audit[privacy]" in scan.note
    (finding,) = [f for f in result.findings if f.check == "privacy.unsafe_model_file"]
    assert finding.severity.value == "medium"


def test_cli_refuses_then_loads_with_allow_unsafe_imports(
    cli: Cli,
    workspace: Workspace,
    frame: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The privacy checks only: the explanation stage is tested elsewhere and costs seconds.
    monkeypatch.setattr("audit.api.CHECKS", PRIVACY_CHECKS)
    estimator = fitted(frame)
    estimator.hook = os.system
    model, data = workspace.pickle(estimator), workspace.table(frame)
    base = ["run", model, data, "--target", "label", "--sensitive", "sex", "--features", "x2,x1"]
    base += ["--n-boot", str(FAST_N_BOOT), "--format", "json"]
    refused = cli(*base, "--trust-model", "--out", tmp_path / "a")
    assert_one_line_error(refused, "refused", "os.system", "--allow-unsafe-imports os.system")
    misuse = cli(*base, "--allow-unsafe-imports", "os.system", "--out", tmp_path / "b")
    assert_one_line_error(misuse, "--allow-unsafe-imports", "--trust-model")
    ran = cli(
        *base, "--trust-model", "--allow-unsafe-imports", "os.system", "--out", tmp_path / "c"
    )
    assert ran.exit_code in (0, 1), ran.output
    document = json.loads((tmp_path / "c" / "report.json").read_text("utf-8"))
    scan = document["privacy"]["model_file"]
    assert scan["allowed_unsafe"] == ["os.system"] and scan["format"] == "pickle"
    assert {
        "module": os.system.__module__,
        "name": "system",
        "safety": "dangerous",
        "allowed": True,
    } in scan["imports"]


def test_allow_list_names_must_be_module_dot_name(workspace: Workspace) -> None:
    path = workspace.pickle({"weights": [1.0]})
    with pytest.raises(ModelError, match=r"MODULE\.NAME"):
        load_model(path, trust=True, allow_unsafe_imports=("system",))
    # A dict of floats has no imports: nothing to refuse, and it is no model either.
    with pytest.raises(ModelError, match=r"unpickl|predict|model"):
        load_model(path, trust=True)
    assert pickle.loads(path.read_bytes()) == {"weights": [1.0]}
