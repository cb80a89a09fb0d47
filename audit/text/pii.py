"""Personal data in the text column, and whether inserting some changes the model's score.

Finding PII inside free text is the privacy module's job (audit.privacy.pii, a seeded sample
of the column, validated by maintained libraries); person names, which it does not search
in free text, are looked up in the first-name lists of the identity terms. The insertion
probe adds synthetic values (knowledge/text_pii_probes.toml) to a seeded sample of texts,
in each form, and rescores them: a model whose judgement moves when an e-mail address or a
name is added reacts to who wrote or is named, not to what is said.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from audit.privacy.masking import mask
from audit.text.identity import IdentityTerms, mentions, term_pattern
from audit.text.intervals import mean_interval
from audit.text.results import PiiInsertion, TextPiiDetection, TextPiiResult
from audit.text.scorer import Scorer

NAMES_CATEGORY = "first_names"
PROBES_FILE = "knowledge/text_pii_probes.toml"


@dataclass(frozen=True)
class PiiProbe:
    type: str
    label: str
    values: tuple[str, ...]


@cache
def pii_probes() -> tuple[tuple[str, ...], tuple[PiiProbe, ...]]:
    text = resources.files("audit").joinpath(PROBES_FILE).read_text("utf-8")
    data = tomllib.loads(text)
    probes = tuple(
        PiiProbe(key, entry["label"], tuple(entry["values"]))
        for key, entry in data["types"].items()
    )
    return tuple(data["forms"]), probes


def _scan(
    frame: pd.DataFrame, column: str, seed: int
) -> tuple[str, str | None, list[TextPiiDetection]]:
    """The privacy module's scan of the text column: (status, reason, detections)."""
    from audit.privacy.pii import scan_frame

    scan = scan_frame(frame[[column]], seed, model_inputs=[column])
    detections = [
        TextPiiDetection(
            type=found.type,
            label=found.label,
            share=found.share,
            sampled=found.sampled,
            masked_example=found.masked_example,
            source="privacy scan",
        )
        for found in scan.detections
        if found.in_text
    ]
    return scan.status, scan.reason, detections


def _names(
    texts: Sequence[str], identity: IdentityTerms, sample: np.ndarray
) -> TextPiiDetection | None:
    names = [
        term
        for category in identity.categories
        if category.name == NAMES_CATEGORY
        for group in category.groups
        for term in group.terms
    ]
    if not names or len(sample) == 0:
        return None
    pattern = term_pattern(names)
    sampled = [texts[row] for row in sample]
    found = mentions(sampled, pattern)
    if not found.any():
        return None
    first = pattern.search(sampled[int(np.flatnonzero(found)[0])])
    return TextPiiDetection(
        type="person_name",
        label="person name (first names from the identity lists)",
        share=round(float(found.mean()), 4),
        sampled=len(sampled),
        masked_example=mask("person_name", first.group(0)) if first else None,
        source="first-name lists",
    )


def text_pii(
    frame: pd.DataFrame,
    column: str,
    texts: Sequence[str],
    scores: np.ndarray,
    scorer: Scorer,
    identity: IdentityTerms,
    *,
    sample_size: int,
    n_boot: int,
    level: float,
    seed: int,
) -> TextPiiResult:
    rng = np.random.default_rng([seed, 1])
    n = len(texts)
    sample = np.sort(rng.choice(n, size=min(sample_size, n), replace=False))
    try:
        scan_status, scan_reason, detections = _scan(frame, column, seed)
    except ImportError as exc:  # the privacy module's validators are an optional extra
        scan_status, scan_reason, detections = "skipped", f"{exc}", []
    names = _names(texts, identity, np.sort(rng.choice(n, size=min(1000, n), replace=False)))
    if names is not None:
        detections.append(names)
    forms, probes = pii_probes()
    sentences: list[str] = []
    plan = []
    for probe in probes if len(sample) else ():  # text.pii_rows = 0 turns insertion off
        start = len(sentences)
        for position, row in enumerate(sample):
            value = probe.values[position % len(probe.values)]
            sentences.extend(
                form.replace("{pii}", value).replace("{text}", texts[row]) for form in forms
            )
        plan.append((probe, start, len(sentences)))
    rescored = scorer.score(sentences) if sentences else np.zeros(0)
    insertions = []
    for position, (probe, start, stop) in enumerate(plan):
        before = np.repeat(scores[sample], len(forms))
        after = rescored[start:stop]
        change = after - before
        flipped = (scorer.decisions(before) != scorer.decisions(after)).astype(np.float64)
        generator = np.random.default_rng([seed, 2, position])
        insertions.append(
            PiiInsertion(
                type=probe.type,
                label=probe.label,
                texts=len(sample),
                sentences=len(change),
                mean_change=float(change.mean()),
                mean_change_ci=mean_interval(change, generator, n_boot, level),
                mean_abs_change=float(np.abs(change).mean()),
                flip_rate=float(flipped.mean()),
                flip_rate_ci=mean_interval(flipped, generator, n_boot, level),
                flips_to_adverse=int((~scorer.adverse(before) & scorer.adverse(after)).sum()),
            )
        )
    return TextPiiResult(
        status="ok",
        scan_status=scan_status,  # type: ignore[arg-type]
        scan_reason=scan_reason,
        detections=tuple(detections),
        insertion_forms=forms,
        insertions=tuple(insertions),
    )
