"""Token attributions with Captum: which tokens move the positive-class probability.

Layer Integrated Gradients on the embedding layer, from a baseline of pad tokens (the model's
special tokens, such as ``[CLS]``, kept). The model's runner supplies the route: TorchScript
runs no Python hooks, so for an archive the embedding table is copied into an eager
``nn.Embedding`` whose output feeds the archive's exported
``forward_embedded(embedded, lengths_or_mask)`` (``audit.text.adapter``); a Hugging Face model
is eager, and Captum hooks its ``get_input_embeddings()`` (``audit.text.huggingface``). The
route must compute the same function as the model (checked on the attributed texts before
use), so the attributions are those of the model itself. A model without a route gets a
gradient-free fallback, Captum's ``FeatureAblation``: each token in turn replaced by the pad
token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch

from audit.text.identity import IdentityTerms
from audit.text.model import ScoreFunction, TextRunner
from audit.text.results import (
    AttributedText,
    AttributedToken,
    AttributionExample,
    AttributionResult,
    TermAttribution,
)

EXTRA_HINT = "pip install 'rai-audit[explain]'"
BATCH = 16  # texts per Captum call; Integrated Gradients runs BATCH x n_steps sequences at once
FIDELITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Attributed:
    tokens: list[str]
    values: np.ndarray  # one attribution per token
    score: float
    delta: float | None


def _batches(encoded_rows: list[list[int]], size: int) -> list[np.ndarray]:
    order = np.argsort([len(row) for row in encoded_rows], kind="stable")
    return [order[start : start + size] for start in range(0, len(order), size)]


def attribute_texts(
    texts: Sequence[str],
    adapter: TextRunner,
    score: ScoreFunction,
    n_steps: int,
) -> tuple[list[Attributed], str, list[str]]:
    """Attributions per token of each text, the method used, and notes for the report."""
    import captum.attr

    with torch.jit.optimized_execution(False):  # see TextAdapter.predict_texts
        return _attribute(captum.attr, texts, adapter, score, n_steps)


def _attribute(
    attr: ModuleType,
    texts: Sequence[str],
    adapter: TextRunner,
    score: ScoreFunction,
    n_steps: int,
) -> tuple[list[Attributed], str, list[str]]:
    tokenizer = adapter.tokenizer
    rows = [tokenizer.ids(text) or [tokenizer.pad_id] for text in texts]
    token_lists = [tokenizer.tokens(text) or [tokenizer.spec.pad] for text in texts]
    notes: list[str] = []
    route = adapter.gradient_route(score)
    if not isinstance(route, str):
        encoded = tokenizer.pad(rows)
        with torch.no_grad():
            direct = score(adapter.run_encoded(encoded)).cpu().numpy()
            ids = torch.from_numpy(encoded.ids).to(adapter.device)
            twin = route(ids, adapter.second_input(encoded))
        gap = float(np.abs(direct - twin.cpu().numpy()).max()) if len(texts) else 0.0
        if gap > FIDELITY_TOLERANCE:
            route = (
                f"forward_embedded differs from forward by up to {gap:.2g} on the attributed "
                "texts, so its gradients would not explain the model"
            )
    method = "feature_ablation" if isinstance(route, str) else "layer_integrated_gradients"
    if isinstance(route, str):
        notes.append(f"gradient-free fallback: {route}")
    results: list[Attributed | None] = [None] * len(texts)
    for chosen in _batches(rows, BATCH):
        encoded = tokenizer.pad([rows[index] for index in chosen])
        ids = torch.from_numpy(encoded.ids).to(adapter.device)
        second = adapter.second_input(encoded)
        baseline = torch.from_numpy(encoded.baseline(tokenizer.pad_id)).to(adapter.device)
        deltas: np.ndarray | None = None
        if not isinstance(route, str):
            explainer = attr.LayerIntegratedGradients(route, route.embedding)
            values, delta = explainer.attribute(
                ids,
                baselines=baseline,
                additional_forward_args=(second,),
                n_steps=n_steps,
                internal_batch_size=len(chosen) * n_steps,
                return_convergence_delta=True,
            )
            per_token = values.sum(dim=-1).detach().cpu().numpy()
            deltas = delta.detach().cpu().numpy()
            with torch.no_grad():
                scores = route(ids, second).cpu().numpy()
        else:

            def forward_ids(batch_ids: torch.Tensor, batch_second: torch.Tensor) -> torch.Tensor:
                return score(adapter.forward_ids(batch_ids, batch_second))

            with torch.no_grad():
                per_token = (
                    attr.FeatureAblation(forward_ids)
                    .attribute(ids, baselines=baseline, additional_forward_args=(second,))
                    .cpu()
                    .numpy()
                    .astype(np.float64)
                )
                scores = forward_ids(ids, second).cpu().numpy()
        for position, index in enumerate(chosen):
            span = encoded.text_span(position)
            results[index] = Attributed(
                token_lists[index][: span.stop - span.start],
                per_token[position, span].astype(np.float64),
                float(scores[position]),
                float(deltas[position]) if deltas is not None else None,
            )
    return [result for result in results if result is not None], method, notes


# ---------------------------------------------------------------------- identity tokens
@dataclass(frozen=True)
class TermTokens:
    category: str
    group: str
    term: str
    tokens: tuple[str, ...]


def term_tokens(identity: IdentityTerms, adapter: TextRunner) -> dict[str, list[TermTokens]]:
    """Identity terms as token sequences, indexed by first token, longest first."""
    index: dict[str, list[TermTokens]] = {}
    for category in identity.categories:
        for group in category.groups:
            for term in group.terms:
                tokens = tuple(adapter.tokenizer.tokens(term))
                if tokens:
                    index.setdefault(tokens[0], []).append(
                        TermTokens(category.name, group.name, term, tokens)
                    )
    for entries in index.values():
        entries.sort(key=lambda entry: -len(entry.tokens))
    return index


def find_terms(
    tokens: Sequence[str], index: dict[str, list[TermTokens]]
) -> list[tuple[TermTokens, int]]:
    """Each identity term occurrence (term, start position), longest match first."""
    found = []
    position = 0
    while position < len(tokens):
        for entry in index.get(tokens[position], ()):
            width = len(entry.tokens)
            if tuple(tokens[position : position + width]) == entry.tokens:
                found.append((entry, position))
                position += width - 1
                break
        position += 1
    return found


def _rounded(value: float | np.floating) -> float:
    return round(float(value), 6)


def attributed_text(item: Attributed, adapter: TextRunner, identity: set[int]) -> AttributedText:
    return AttributedText(
        score=_rounded(item.score),
        tokens=tuple(
            AttributedToken(
                token=token,
                attribution=_rounded(value),
                known=adapter.tokenizer.known(token),
                identity=position in identity,
            )
            for position, (token, value) in enumerate(zip(item.tokens, item.values, strict=True))
        ),
    )


def identity_positions(tokens: Sequence[str], index: dict[str, list[TermTokens]]) -> set[int]:
    return {
        start + offset
        for entry, start in find_terms(tokens, index)
        for offset in range(len(entry.tokens))
    }


@dataclass(frozen=True)
class ExampleRequest:
    category: str
    terms: tuple[str, str]
    original: str
    swapped: str
    score_change: float


def token_attributions(
    adapter: TextRunner,
    score: ScoreFunction,
    identity: IdentityTerms,
    sample_texts: Sequence[str],
    examples: Sequence[ExampleRequest],
    *,
    n_steps: int,
    library: str,
    explains: str,
) -> AttributionResult:
    texts = [*sample_texts]
    for example in examples:
        texts.extend((example.original, example.swapped))
    if not texts:
        return AttributionResult(
            status="skipped",
            reason="nothing to attribute: no text mentions an identity term, or "
            "text.attribution_rows and text.attribution_examples are 0",
        )
    attributed, method, notes = attribute_texts(texts, adapter, score, n_steps)
    index = term_tokens(identity, adapter)
    per_term: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for item in attributed[: len(sample_texts)]:
        total = float(np.abs(item.values).sum())
        for entry, start in find_terms(item.tokens, index):
            span = item.values[start : start + len(entry.tokens)]
            share = float(np.abs(span).sum() / total) if total > 0 else 0.0
            key = (entry.category, entry.group, entry.term)
            per_term.setdefault(key, []).append((float(span.sum()), share))
    terms = tuple(
        TermAttribution(
            category=category,
            group=group,
            term=term,
            occurrences=len(values),
            mean_attribution=_rounded(np.mean([value for value, _ in values])),
            mean_abs_share=_rounded(np.mean([share for _, share in values])),
        )
        for (category, group, term), values in sorted(
            per_term.items(), key=lambda item: (item[0][0], -len(item[1]), item[0][2])
        )
    )
    shown = []
    example_items = attributed[len(sample_texts) :]
    for number, example in enumerate(examples):
        original, swapped = example_items[2 * number], example_items[2 * number + 1]
        shown.append(
            AttributionExample(
                category=example.category,
                terms=example.terms,
                score_change=_rounded(swapped.score - original.score),
                original=attributed_text(
                    original, adapter, identity_positions(original.tokens, index)
                ),
                swapped=attributed_text(
                    swapped, adapter, identity_positions(swapped.tokens, index)
                ),
            )
        )
    deltas = [abs(item.delta) for item in attributed if item.delta is not None]
    return AttributionResult(
        status="ok",
        method=method,
        library=library,
        explains=explains,
        baseline="every token replaced by the pad token",
        n_steps=n_steps if method == "layer_integrated_gradients" else None,
        texts=len(texts),
        mean_abs_delta=_rounded(np.mean(deltas)) if deltas else None,
        max_abs_delta=_rounded(np.max(deltas)) if deltas else None,
        notes=tuple(notes),
        terms=terms,
        examples=tuple(shown),
    )


def captum_library() -> str:
    """``captum <version>``; raises ImportError when the explain extra is missing."""
    import captum

    return f"captum {captum.__version__}"
