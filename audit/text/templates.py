"""Templated probes (Dixon et al. 2018): neutral sentences filled with each identity term.

Every template of a category's probe kind is filled with every probe term of the category,
so each template gives one score per term. A term's ``score_gap`` is the mean, over
templates, of its score minus the category's mean score on the same template (a paired
difference, so a template that everyone finds negative cancels out); its interval
resamples templates. ``false_adverse_rate`` is the share of a term's neutral sentences
judged adverse - Dixon et al.'s false positive rate, "positive" read as the adverse class.
"""

from __future__ import annotations

import numpy as np

from audit.core.intervals import interval_of
from audit.text.identity import IdentityTerms
from audit.text.intervals import mean_replicates, poisson_weights
from audit.text.model import TextTokenizer
from audit.text.results import CategoryProbe, TemplateResult, TermProbe
from audit.text.scorer import Scorer


def fill(template: str, term: str) -> str:
    # str.replace, not str.format: a template may hold other braces.
    return template.replace("{term}", term)


def template_probes(
    scorer: Scorer,
    tokenizer: TextTokenizer,
    identity: IdentityTerms,
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> TemplateResult:
    plans = []
    sentences: list[str] = []
    for category in identity.categories:
        templates = identity.templates.get(category.probe_kind, ())
        probes = [(group.name, term) for group in category.groups for term in group.probe_terms]
        if not templates or len(probes) < 2:
            continue
        start = len(sentences)
        sentences.extend(fill(template, term) for _, term in probes for template in templates)
        plans.append((category, templates, probes, start))
    if not sentences:
        return TemplateResult(
            status="skipped",
            reason="no category has two or more probe terms and templates of its kind",
        )
    scores = scorer.score(sentences)
    adverse = scorer.adverse(scores).astype(np.float64)
    categories, terms = [], []
    for position, (category, templates, probes, start) in enumerate(plans):
        size = len(probes) * len(templates)
        # [terms, templates]
        grid = scores[start : start + size].reshape(len(probes), len(templates))
        flags = adverse[start : start + size].reshape(len(probes), len(templates))
        centred = grid - grid.mean(axis=0, keepdims=True)
        flag_centred = flags - flags.mean()
        weights = (
            poisson_weights(np.random.default_rng([seed, position]), n_boot, len(templates))
            if n_boot
            else None
        )
        gap_replicates = mean_replicates(centred.T, weights) if weights is not None else None
        # A rate's gap to the category rate: the category rate moves with the replicate too.
        if weights is not None:
            rate_replicates = mean_replicates(flags.T, weights)
            flag_gap_replicates = rate_replicates - rate_replicates.mean(axis=1, keepdims=True)
        for index, (group, term) in enumerate(probes):
            tokens = tokenizer.tokens(term)
            terms.append(
                TermProbe(
                    category=category.name,
                    group=group,
                    term=term,
                    in_vocabulary=bool(tokens) and all(map(tokenizer.known, tokens)),
                    templates=len(templates),
                    mean_score=float(grid[index].mean()),
                    false_adverse_rate=float(flags[index].mean()),
                    score_gap=float(centred[index].mean()),
                    score_gap_ci=(
                        interval_of(gap_replicates[:, index], level)
                        if gap_replicates is not None
                        else None
                    ),
                    false_adverse_gap=float(flag_centred[index].mean()),
                    false_adverse_gap_ci=(
                        interval_of(flag_gap_replicates[:, index], level)
                        if weights is not None
                        else None
                    ),
                )
            )
        term_rates = flags.mean(axis=1)
        term_means = grid.mean(axis=1)
        categories.append(
            CategoryProbe(
                category=category.name,
                probe_kind=category.probe_kind,
                terms=len(probes),
                templates=len(templates),
                mean_score=float(grid.mean()),
                false_adverse_rate=float(flags.mean()),
                false_adverse_equality_difference=float(np.abs(flags.mean() - term_rates).sum()),
                score_range=float(term_means.max() - term_means.min()),
            )
        )
    return TemplateResult(
        status="ok", sentences=len(sentences), categories=tuple(categories), terms=tuple(terms)
    )
