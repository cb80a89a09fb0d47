"""The guided error for a model file rai-audit does not load: each kind of
audit/knowledge/model_kinds.toml is recognised from a file built here (by content even under
another suffix), and the CLI says what it is and how to convert it, on one line, exit 2."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.models.file_kinds import detect, known_kinds

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "adult" / "test.csv.gz"


def _zip(path: Path, *members: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for member in members:
            archive.writestr(member, b"{}")
    return path


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


# One file per kind, as the tool that makes it writes it (in content), under a neutral name
# where content decides, so that the suffix cannot be what recognised it.
BUILDERS = {
    "keras-h5": lambda d: _write(d / "model.bin2", b"\x89HDF\r\n\x1a\n" + bytes(64)),
    "keras-v3": lambda d: _zip(d / "model.keras", "config.json", "model.weights.h5"),
    "tf-saved-model": lambda d: _saved_model(d),
    "tf-graph": lambda d: _write(d / "frozen.pb", b"\n\x0c\n\x05input"),
    "tflite": lambda d: _write(d / "model.data", b"\x1c\x00\x00\x00TFL3" + bytes(32)),
    "safetensors-weights": lambda d: _write(d / "model.safetensors", b"\x10" + bytes(7) + b"{}"),
    "hf-pickle-weights": lambda d: _write(d / "pytorch_model.bin", b"\x80\x02}q\x00."),
    "xgboost": lambda d: _write(
        d / "booster.json", json.dumps({"learner": {"attributes": {}}, "version": [2]}).encode()
    ),
    "lightgbm": lambda d: _write(d / "model.txt", b"tree\nversion=v4\nnum_class=1\n"),
    "catboost": lambda d: _write(d / "model.cbm", b"CBM1" + bytes(32)),
    "pmml": lambda d: _write(d / "model.xml", b'<?xml version="1.0"?>\n<PMML version="4.4">'),
    "torchserve": lambda d: _zip(d / "model.mar", "MAR-INF/MANIFEST.json", "model.pt"),
    "torch-save-renamed": lambda d: _zip(d / "model.ckpt", "model/data.pkl", "model/version"),
    "data-file": lambda d: _write(d / "scores.csv", b"a,b\n1,2\n"),
}


def _saved_model(folder: Path) -> Path:
    saved = folder / "saved"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"\x08\x01")
    return saved


def test_every_kind_has_a_builder_and_a_documented_anchor() -> None:
    assert sorted(BUILDERS) == sorted(kind.id for kind in known_kinds())
    doc = (ROOT / "docs" / "model-formats.md").read_text("utf-8")
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", doc, flags=re.MULTILINE)
    }
    assert {kind.doc for kind in known_kinds()} <= anchors


@pytest.mark.parametrize("kind_id", sorted(BUILDERS))
def test_each_kind_is_named_with_its_conversion_in_one_line(tmp_path: Path, kind_id: str) -> None:
    model = BUILDERS[kind_id](tmp_path)
    kind = detect(model)
    assert kind is not None and kind.id == kind_id
    outcome = CliRunner().invoke(
        app, ["run", str(model), str(DATA), "--target", "income", "--sensitive", "sex"]
    )
    assert outcome.exit_code == 2, outcome.output
    lines = outcome.output.strip().splitlines()
    assert len(lines) == 1, outcome.output
    assert str(model) in lines[0] and kind.name in lines[0]
    assert "docs/model-formats.md#other-formats-convert-first" in lines[0]
    assert "Traceback" not in outcome.output


def test_an_unknown_file_lists_what_loads(tmp_path: Path) -> None:
    model = _write(tmp_path / "model.weird", b"\x00\x01\x02")
    outcome = CliRunner().invoke(
        app, ["run", str(model), str(DATA), "--target", "income", "--sensitive", "sex"]
    )
    assert outcome.exit_code == 2
    line = outcome.output.strip()
    assert "unknown model format '.weird'" in line and ".onnx" in line and "--predictions" in line


def test_a_folder_of_model_files_is_ambiguous_and_lists_them(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("a.pt", "b.skops", "notes.txt"):
        (folder / name).write_bytes(b"x")
    outcome = CliRunner().invoke(
        app, ["run", str(folder), str(DATA), "--target", "income", "--sensitive", "sex"]
    )
    assert outcome.exit_code == 2
    line = outcome.output.strip()
    assert "a.pt, b.skops" in line and "notes.txt" not in line and "name the one to audit" in line


def test_a_hugging_face_folder_without_text_column_is_told_to_name_it(tmp_path: Path) -> None:
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    outcome = CliRunner().invoke(
        app, ["run", str(folder), str(DATA), "--target", "income", "--sensitive", "sex"]
    )
    assert outcome.exit_code == 2
    line = outcome.output.strip()
    assert "is a Hugging Face model folder" in line and "--text-column COL" in line
