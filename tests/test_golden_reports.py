"""The bundled examples' reports, every format, against a recorded copy: byte for byte, but for
report.json's and report.sarif's floats, which may differ in their last bits from one processor
to another.

A refactoring of the engine must not change what users get. The recorded
copies (tests/fixtures/golden/) were written by this test with ``RAI_AUDIT_UPDATE_GOLDEN=1``;
rewrite them that way only for a deliberate change of output, and say so in CHANGELOG.md.

Two things vary between runs of the same audit and are pinned here: the date (by
SOURCE_DATE_EPOCH, as a user pins it) and wall-clock durations (``time.perf_counter`` stands
still). The command line is the test's own, its output folder's name replaced by OUT.
Results depend on the numerical libraries, so the comparison is made only with the release
series (major.minor) of each that the copies were recorded with; another series skips it with a
reason. A patch release, of a library or of Python, changes nothing but the version strings the
reports print (and, rarely, a fix's numbers, which the failure message then points to), so the
environment's versions and platform are masked in both copies before they are compared. They
also depend, in
the last bit or two, on the processor: the same torch and BLAS pick other vector kernels on
another CPU (AVX2 against AVX-512), so the floats of report.json and report.sarif, which write
them at full precision, are held to 1e-12 of the recorded ones, and their text with every
number taken out, like every other file, byte for byte.
"""

from __future__ import annotations

import difflib
import gzip
import json
import math
import os
import re
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
FORMATS = "json,html,markdown,junit,sarif,model-card"
# The libraries whose arithmetic or version strings reach the reports.
LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "fairlearn", "torch", "shap", "captum")
EXAMPLES = {
    "adult": (
        "examples/adult/model.pt",
        "examples/adult/test.csv.gz",
        "--target",
        "income",
        "--sensitive",
        "sex,race",
    ),
    "sentiment": (
        "examples/sentiment/model.pt",
        "examples/sentiment/test.csv.gz",
        "--text-column",
        "text",
        "--target",
        "label",
    ),
}
UPDATE = os.environ.get("RAI_AUDIT_UPDATE_GOLDEN") == "1"
JSON_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
# Machines differ by a few units in the last place (4.6e-16 relative seen); anything a change
# of the engine moves is many orders larger.
FLOAT_TOLERANCE = 1e-12
# The formats that write floats at full precision, so a float's last bits reach them.
JSON_REPORTS = (".json", ".sarif")


def _installed() -> dict[str, str]:
    return {name: version(name) for name in LIBRARIES}


def _release_series(versions: dict[str, str]) -> dict[str, str]:
    """Each library's major.minor: what a patch release keeps."""
    return {name: ".".join(number.split(".")[:2]) for name, number in versions.items()}


def _moved_patches(recorded: dict[str, str], installed: dict[str, str]) -> str:
    moved = [
        f"{name} {recorded[name]} -> {installed[name]}"
        for name in recorded
        if recorded[name] != installed[name]
    ]
    return (
        f"; installed patch releases differ from the recorded ones ({', '.join(moved)}): if one of "
        "them changed the numbers, rerun with RAI_AUDIT_UPDATE_GOLDEN=1 and say so in CHANGELOG.md"
        if moved
        else ""
    )


def _mask_environment(content: bytes, report_json: bytes) -> bytes:
    """The report with the versions of Python and the packages it lists (run.versions, the PII
    validators) and the platform replaced by placeholders, as they read in every format: "name
    1.2.3" in the prose reports, "name": "1.2.3" in JSON. rai-audit's own version is kept: a
    release of the tool is a deliberate change of its output."""
    report = json.loads(report_json)
    environment = {**report["run"]["versions"], **report["privacy"]["pii"]["validators"]}
    environment.pop("rai-audit")
    for name, number in environment.items():
        for pattern in (f"{name} {number}", f'"{name}": "{number}"'):
            content = content.replace(pattern.encode(), pattern.replace(number, "VERSION").encode())
    return content.replace(report["run"]["platform"].encode(), b"PLATFORM")


def _audit(example: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.chdir(ROOT)  # the recorded command names the example by its relative path
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    arguments = [
        "run",
        *EXAMPLES[example],
        "--out",
        str(out),
        "--format",
        FORMATS,
        "--threads",
        "1",
        "--quiet",
    ]
    monkeypatch.setattr(sys, "argv", ["rai-audit", *arguments])  # the recorded command
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code in (0, 1), result.output
    return {
        path.name: path.read_bytes().replace(str(out).encode(), b"OUT")
        for path in sorted(out.iterdir())
    }


def _first_difference(name: str, recorded: bytes, produced: bytes) -> str:
    lines = difflib.unified_diff(
        recorded.decode("utf-8", "replace").splitlines(),
        produced.decode("utf-8", "replace").splitlines(),
        f"recorded {name}",
        f"produced {name}",
        n=1,
        lineterm="",
    )
    return "\n".join(list(lines)[:20])


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_reports_match_the_recorded_copies(
    example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = GOLDEN / example
    manifest = folder / "versions.json"
    hint = ""
    if not UPDATE:
        recorded_versions = json.loads(manifest.read_text("utf-8"))
        if _release_series(recorded_versions) != _release_series(_installed()):
            pytest.skip(
                f"{manifest.relative_to(ROOT)} was recorded with {recorded_versions}, installed "
                f"are {_installed()}: rerun with RAI_AUDIT_UPDATE_GOLDEN=1 on a known-good commit"
            )
        hint = _moved_patches(recorded_versions, _installed())
    produced = _audit(example, tmp_path / "out", monkeypatch)
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.gz"):
            stale.unlink()
        for name, content in produced.items():
            # mtime=0: the recorded copy itself is reproducible.
            (folder / f"{name}.gz").write_bytes(gzip.compress(content, mtime=0))
        manifest.write_text(json.dumps(_installed(), indent=2) + "\n", "utf-8")
        return
    recorded = _recorded(example)
    assert sorted(produced) == sorted(recorded)
    for name in produced:
        content = _mask_environment(produced[name], produced["report.json"])
        expected = _mask_environment(recorded[name], recorded["report.json"])
        if name.endswith(JSON_REPORTS) and content != expected:
            text, recorded_text = (JSON_NUMBER.sub(b"0", doc) for doc in (content, expected))
            assert text == recorded_text, _first_difference(name, recorded_text, text) + hint
            assert _far_values(json.loads(expected), json.loads(content)) == [], hint
            continue
        assert content == expected, _first_difference(name, expected, content) + hint


def _far_values(recorded: object, produced: object, path: str = "") -> list[str]:
    """Where the two parsed reports differ other than by a float's last bits."""
    if isinstance(recorded, dict) and isinstance(produced, dict):
        if list(recorded) != list(produced):
            return [f"{path}: keys {list(recorded)} != {list(produced)}"]
        return [
            far
            for key in recorded
            for far in _far_values(recorded[key], produced[key], f"{path}.{key}")
        ]
    if isinstance(recorded, list) and isinstance(produced, list):
        if len(recorded) != len(produced):
            return [f"{path}: {len(recorded)} items != {len(produced)}"]
        return [
            far
            for index, pair in enumerate(zip(recorded, produced, strict=True))
            for far in _far_values(*pair, f"{path}[{index}]")
        ]
    if type(recorded) is float and type(produced) is float:
        close = math.isclose(recorded, produced, rel_tol=FLOAT_TOLERANCE, abs_tol=1e-15)
        return [] if close else [f"{path}: {recorded!r} != {produced!r}"]
    return (
        []
        if recorded == produced and type(recorded) is type(produced)
        else [f"{path}: {recorded!r} != {produced!r}"]
    )


def _recorded(example: str) -> dict[str, bytes]:
    return {
        path.name.removesuffix(".gz"): gzip.decompress(path.read_bytes())
        for path in (GOLDEN / example).glob("*.gz")
    }


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_another_patch_release_or_platform_reads_the_same_once_masked(example: str) -> None:
    recorded = _recorded(example)
    run = json.loads(recorded["report.json"])["run"]
    # The same report as another machine writes it: Python, numpy and a PII validator one patch
    # on, another platform. rai-audit's own version stays.
    moves = {
        f"python {run['versions']['python']}": "python 3.11.99",
        f'"python": "{run["versions"]["python"]}"': '"python": "3.11.99"',
        f"numpy {run['versions']['numpy']}": "numpy 2.4.99",
        f'"numpy": "{run["versions"]["numpy"]}"': '"numpy": "2.4.99"',
        '"phonenumbers": "': '"phonenumbers": "99.',
        run["platform"]: "Darwin arm64",
    }
    moved_anything = False
    for content in recorded.values():
        elsewhere = _moved(content, moves)
        moved_anything |= elsewhere != content
        masked = _mask_environment(content, recorded["report.json"])
        assert _mask_environment(elsewhere, _moved(recorded["report.json"], moves)) == masked
    assert moved_anything
    assert b"Darwin" not in _mask_environment(
        _moved(recorded["report.html"], moves), _moved(recorded["report.json"], moves)
    )


def _moved(content: bytes, moves: dict[str, str]) -> bytes:
    for before, after in moves.items():
        content = content.replace(before.encode(), after.encode())
    return content


def test_a_patch_release_keeps_the_comparison_and_a_minor_one_skips_it() -> None:
    recorded = {"pandas": "3.1.2", "torch": "2.13.0+cpu"}
    assert _release_series(recorded) == _release_series({"pandas": "3.1.3", "torch": "2.13.1"})
    assert _release_series(recorded) != _release_series({"pandas": "3.2.0", "torch": "2.13.0"})
    assert "pandas 3.1.2 -> 3.1.3" in _moved_patches(recorded, {**recorded, "pandas": "3.1.3"})
    assert _moved_patches(recorded, recorded) == ""
