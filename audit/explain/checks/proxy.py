"""explain.proxy: an input column strongly associated with a sensitive attribute carries a
material share of the attribution, so the model can act on the attribute through it. A column
that is an encoded copy of the attribute is direct use (explain.direct_use), never also a
proxy of it."""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement, format_number
from audit.core.check_knowledge import in_words
from audit.core.findings import Evidence
from audit.core.policy import Threshold
from audit.explain.checks.common import explanations_of, percent, primary_method

SHARE = "explain_attribution_share"
ASSOCIATION = "explain_association"


class ProxyCheck:
    needs: tuple[str, ...] = ("explain",)

    id = "explain.proxy"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        explanations = explanations_of(context)
        if not explanations.associations:
            return ()
        method = primary_method(explanations)
        share_limit = context.policy.thresholds[SHARE]
        association_limit = context.policy.thresholds[ASSOCIATION]
        copied = {
            (column, copy.attribute)
            for copy in explanations.encoded_copies
            for column in copy.columns
        }
        measured = []
        for association in explanations.associations:
            strength = association.value
            if strength is None or (association.column, association.attribute) in copied:
                continue
            importance = method.importance_of(association.column)
            if importance is None:
                continue
            interval = importance.share_ci
            # Clear when the share's whole interval is material; the association is measured
            # on the whole data, so its sampling error is small beside the share's.
            clear = interval is not None and all(share_limit.violated_by(end) for end in interval)
            evidence = Evidence(
                metric="attribution_share",
                value=importance.share,
                interval=interval,
                threshold=share_limit.limit,
                bound=share_limit.bound,
                feature=(association.column, association.attribute),
                n=(method.rows, association.n),
                statistically_clear=clear,
                details={
                    "method": method.method,
                    "proxy": association.column,
                    "attribute": association.attribute,
                    "association_measure": association.measure,
                    "association": strength,
                    "association_threshold": association_limit.limit,
                    "mutual_information": association.mutual_information,
                },
            )
            measured.append(
                Measurement(
                    key=(association.column, association.attribute),
                    evidence=evidence,
                    rule=_level(share_limit, association_limit, importance.share, strength, clear),
                    words={
                        "column": association.column,
                        "attribute": association.attribute,
                        "measure": in_words(association.measure),
                        "association": format_number(strength),
                        "share": percent(importance.share),
                        "share_limit": percent(share_limit.limit),
                        "share_critical": percent(share_limit.critical or share_limit.limit),
                        "association_critical": format_number(
                            association_limit.critical or association_limit.limit
                        ),
                    },
                )
            )
        return tuple(measured)


def _level(
    share_limit: Threshold, association_limit: Threshold, share: float, strength: float, clear: bool
) -> str | None:
    """The grade of a proxy, None when the column is not one: it must both track the
    attribute strongly and carry a material share of the attribution."""
    if not association_limit.violated_by(strength) or not share_limit.violated_by(share):
        return None
    if not clear:
        return "uncertain"
    if association_limit.critical_by(strength) and share_limit.critical_by(share):
        return "critical"
    return "clear"
