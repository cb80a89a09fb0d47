"""Counterfactual substitution: swap identity terms in the audited texts and rescore them.

For every pair of groups of a category (female/male, christian/muslim, ...) the texts that
contain any of the pair's terms are rescored twice over: once with the whole groups swapped
(every listed term at once) and once per term pair (he<->she alone). A text with more terms
of the first side than of the second measures first -> second; the opposite one the
reverse, so ``score_gap`` is always score(second side's version) - score(first side's), and
texts with as many terms of each side (a mirror image) count only in the flip rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from audit.text.identity import IdentityCategory, IdentityTerms, SwapSet
from audit.text.intervals import mean_interval
from audit.text.model import TextTokenizer
from audit.text.results import CategorySwaps, CounterfactualResult, SwapResult
from audit.text.scorer import Scorer
from audit.text.substitution import Swapper, swapper


@dataclass(frozen=True)
class SwapJob:
    category: IdentityCategory
    swap: SwapSet
    terms: tuple[str, ...]  # one pair, or () for the whole groups
    swapper: Swapper


@dataclass
class SwapDetail:
    """One job's texts: what the check's examples and attributions start from."""

    job: SwapJob
    rows: np.ndarray  # indices into the audited texts
    swapped: list[str]
    orientation: np.ndarray  # +1 first -> second, -1 second -> first, 0 a mirror image
    changes: np.ndarray = field(default_factory=lambda: np.zeros(0))  # swapped - original


def _jobs(identity: IdentityTerms) -> list[SwapJob]:
    jobs = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for category in identity.categories:
        for swap in category.swaps:
            jobs.append(SwapJob(category, swap, (), swapper(swap.pairs)))
            for pair in swap.pairs:
                key = (category.name, pair)
                if key in seen:
                    continue
                seen.add(key)
                jobs.append(SwapJob(category, swap, pair, swapper([pair])))
    return jobs


def _collect(job: SwapJob, texts: Sequence[str], candidates: np.ndarray) -> SwapDetail:
    rows, swapped, orientation = [], [], []
    for row in candidates:
        text = texts[row]
        first, second = job.swapper.sides(text)
        if first + second == 0:
            continue
        changed = job.swapper.swap(text)
        if changed == text:
            continue
        rows.append(row)
        swapped.append(changed)
        orientation.append(np.sign(first - second))
    return SwapDetail(
        job, np.asarray(rows, dtype=np.int64), swapped, np.asarray(orientation, dtype=np.int64)
    )


def _in_vocabulary(tokenizer: TextTokenizer, term: str) -> bool:
    tokens = tokenizer.tokens(term)
    return bool(tokens) and all(tokenizer.known(token) for token in tokens)


def _summarise(
    detail: SwapDetail,
    scores: np.ndarray,
    scorer: Scorer,
    tokenizer: TextTokenizer,
    min_rows: int,
    n_boot: int,
    level: float,
    rng: np.random.Generator,
) -> SwapResult:
    job = detail.job
    before = scores[detail.rows]
    after = before + detail.changes
    flipped = scorer.decisions(before) != scorer.decisions(after)
    to_adverse = int((~scorer.adverse(before) & scorer.adverse(after)).sum())
    from_adverse = int((scorer.adverse(before) & ~scorer.adverse(after)).sum())
    oriented = detail.changes[detail.orientation != 0] * detail.orientation[detail.orientation != 0]
    rows = len(detail.rows)
    sides = job.terms if job.terms else job.swap.groups
    vocabulary = tuple(_in_vocabulary(tokenizer, term) for term in job.terms)
    counted = SwapResult(
        category=job.category.name,
        groups=job.swap.groups,
        terms=job.terms,
        rows=rows,
        oriented_rows=len(oriented),
        status="insufficient_data",
        score_gap=None,
        score_gap_ci=None,
        mean_abs_change=None,
        flip_rate=None,
        flip_rate_ci=None,
        flips_to_adverse=to_adverse,
        flips_from_adverse=from_adverse,
        disfavoured=None,
        in_vocabulary=vocabulary,
    )
    if rows < min_rows:
        # Like a small group in the fairness tables: shown, never turned into a metric.
        return counted
    gap = float(oriented.mean()) if len(oriented) else None
    disfavoured = None
    if gap is not None and gap != 0:
        disfavoured = sides[1] if scorer.toward_adverse(gap) > 0 else sides[0]
    return replace(
        counted,
        status="ok",
        score_gap=gap,
        score_gap_ci=mean_interval(oriented, rng, n_boot, level) if len(oriented) else None,
        mean_abs_change=float(np.abs(detail.changes).mean()),
        flip_rate=float(flipped.mean()),
        flip_rate_ci=mean_interval(flipped.astype(np.float64), rng, n_boot, level),
        disfavoured=disfavoured,
    )


def counterfactuals(
    texts: Sequence[str],
    scores: np.ndarray,
    scorer: Scorer,
    tokenizer: TextTokenizer,
    identity: IdentityTerms,
    *,
    min_rows: int,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[CounterfactualResult, list[SwapDetail]]:
    jobs = _jobs(identity)
    everything = np.arange(len(texts))
    details: list[SwapDetail] = []
    candidates = everything
    for job in jobs:
        if not job.terms:
            # A group swap's texts are the only candidates for its term pairs.
            candidates = everything
        detail = _collect(job, texts, candidates)
        if not job.terms:
            candidates = detail.rows
        details.append(detail)
    swapped = [text for detail in details for text in detail.swapped]
    rescored = scorer.score(swapped) if swapped else np.zeros(0)
    start = 0
    for detail in details:
        stop = start + len(detail.swapped)
        detail.changes = rescored[start:stop] - scores[detail.rows]
        start = stop
    results = [
        _summarise(
            detail,
            scores,
            scorer,
            tokenizer,
            min_rows,
            n_boot,
            level,
            np.random.default_rng([seed, position]),
        )
        for position, detail in enumerate(details)
    ]
    categories = []
    perturbed = np.zeros(len(texts), dtype=bool)
    for category in identity.categories:
        group_details = [
            detail for detail in details if detail.job.category is category and not detail.job.terms
        ]
        changes = np.concatenate([detail.changes for detail in group_details] or [np.zeros(0)])
        flips = np.concatenate(
            [
                scorer.decisions(scores[detail.rows])
                != scorer.decisions(scores[detail.rows] + detail.changes)
                for detail in group_details
            ]
            or [np.zeros(0, dtype=bool)]
        )
        for detail in group_details:
            perturbed[detail.rows] = True
        categories.append(
            CategorySwaps(
                category.name,
                len(changes),
                float(np.abs(changes).mean()) if len(changes) else None,
                float(flips.mean()) if len(flips) else None,
            )
        )
    result = CounterfactualResult(
        status="ok",
        min_rows=min_rows,
        rows_perturbed=int(perturbed.sum()),
        sentences_scored=len(swapped),
        categories=tuple(categories),
        group_swaps=tuple(result for result in results if not result.terms),
        pairs=tuple(result for result in results if result.terms),
    )
    return result, details
