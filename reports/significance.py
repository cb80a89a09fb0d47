"""A selection-rate ratio's significance (audit.fairness.significance) in words, written once
for every report that shows the ratio."""

from __future__ import annotations

from audit.core.findings import Evidence


def _chance(p_value: float) -> str:
    return "less than 1 in 1,000" if p_value < 0.001 else f"{p_value:.3f}"


def significance_note(evidence: Evidence) -> str:
    """``; Fisher's exact p = 0.223, 1 selection short``, or "" for a measurement without a
    p-value: a clause for the one-line formats (JUnit, Markdown)."""
    p_value, shortfall = evidence.details.get("p_value"), evidence.details.get("shortfall")
    if p_value is None or shortfall is None:
        return ""
    short = f"{shortfall} selection(s) short of the threshold" if shortfall else "no shortfall"
    excused = (
        "; not significant, does not fail the gate"
        if "not_significant" in (evidence.details)
        else ""
    )
    return f"; Fisher's exact p = {p_value:.3g}, {short}{excused}"


def significance_sentence(evidence: Evidence, alpha: float | None) -> str | None:
    """The ratio's p-value and shortfall in plain words, None without them. ``alpha``: the
    gate's p_value_alpha, None when the policy does not require significance."""
    p_value, shortfall = evidence.details.get("p_value"), evidence.details.get("shortfall")
    if p_value is None or shortfall is None or evidence.threshold is None:
        return None
    sentence = (
        "If both groups had the same chance of the positive decision, a gap at least this "
        f"large would still arise by chance with probability {_chance(p_value)} (Fisher's "
        "exact test)"
    )
    if shortfall:
        # A four-fifths ratio, and a parity ratio between groups, name the less selected
        # group first; against a reference group either may be, so it is named by its role.
        named = evidence.metric == "selection_rate_ratio" or (
            evidence.details.get("comparison") == "between_groups"
        )
        who = (
            "/".join(evidence.groups[0]) if named and evidence.groups else "the less selected group"
        )
        sentence += (
            f"; {shortfall} more positive decision(s) for {who} would bring the ratio up to "
            f"the policy's minimum of {evidence.threshold:.2f}."
        )
    else:
        sentence += "."
    if "not_significant" in evidence.details and alpha is not None:
        sentence += (
            f" The policy counts a ratio below its minimum only when that probability is "
            f"below {alpha:g}, so this one does not stop the release."
        )
    return sentence
