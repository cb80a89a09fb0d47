"""privacy.membership_inference: the model's output tells its training rows from others.

Each attack's AUC (and its true positive rate at a 1% false positive rate, the low-FPR view
of Carlini et al., 2022) against the policy's thresholds, graded by the bootstrap interval;
then each sensitive feature's groups, where memorisation often shows first.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Grade, Measurement, grade
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence
from audit.core.policy import Threshold
from audit.privacy.checks.common import privacy_report, ready
from audit.privacy.report import MembershipGroup, MembershipResult

METRIC_WORDS = {
    "membership_auc": "membership AUC",
    "membership_tpr_at_1pct_fpr": "true positive rate at a 1% false positive rate",
}
ATTACK_WORDS = {
    "loss_threshold": "loss-threshold attack",
    "confidence_threshold": "confidence-threshold attack",
}


class MembershipInferenceCheck:
    needs: tuple[str, ...] = ("privacy",)

    id = "privacy.membership_inference"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        result: MembershipResult = ready(privacy_report(context).membership)
        policy = context.policy
        measured = []
        sizes = (result.members, result.nonmembers)
        for attack in result.attacks:
            for metric, value, interval in (
                ("membership_auc", attack.auc, attack.ci),
                ("membership_tpr_at_1pct_fpr", attack.tpr_at_1pct_fpr, attack.tpr_at_1pct_fpr_ci),
            ):
                threshold = policy.thresholds.get(metric)
                if value is None or threshold is None:
                    continue
                evidence = Evidence(
                    metric=metric,
                    value=value,
                    interval=interval,
                    threshold=threshold.limit,
                    bound=threshold.bound,
                    n=sizes,
                    details={
                        "attack": attack.attack,
                        "nonmember_source": result.nonmember_source,
                        "yeom_advantage": result.yeom.advantage if result.yeom else None,
                        "accuracy_gap": (
                            result.generalization.accuracy_gap if result.generalization else None
                        ),
                    },
                )
                measured.append(
                    Measurement(
                        key=(attack.attack, metric),
                        evidence=evidence,
                        threshold=threshold,
                        words={
                            "what": f"{METRIC_WORDS[metric]} of the {ATTACK_WORDS[attack.attack]}",
                            "where": "the training rows",
                        },
                    )
                )
        threshold = policy.thresholds.get("membership_auc")
        if threshold is not None:
            measured.extend(self._groups(threshold, result))
        return tuple(measured)

    def _groups(self, threshold: Threshold, result: MembershipResult) -> list[Measurement]:
        """Per sensitive feature, its worst group past the threshold, with every flagged group
        in the evidence; a feature with none passes with its highest-AUC group."""
        info = check_table()[self.id]
        by_feature: dict[tuple[str, ...], list[tuple[MembershipGroup, Grade | None]]] = {}
        for group in result.groups:
            if group.status != "ok" or group.auc is None:
                continue
            graded = grade(info, threshold, group.auc, group.ci)
            by_feature.setdefault(group.feature, []).append((group, graded))
        measured = []
        for feature, judged in by_feature.items():
            flagged = [(group, graded) for group, graded in judged if graded is not None]
            if flagged:
                top = max(flagged, key=lambda pair: (pair[1].severity.rank, pair[0].auc or 0.0))[0]
                shown = [group for group, _ in flagged]
            else:
                top = max((group for group, _ in judged), key=lambda group: group.auc or 0.0)
                shown = [top]
            evidence = Evidence(
                metric="membership_auc",
                value=top.auc,
                interval=top.ci,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=feature,
                groups=tuple(group.group for group in shown),
                n=tuple(group.members + group.nonmembers for group in shown),
                details={
                    "attack": "loss_threshold",
                    "group_auc": [group.auc for group in shown],
                    "members": [group.members for group in shown],
                    "nonmembers": [group.nonmembers for group in shown],
                },
            )
            measured.append(
                Measurement(
                    key=("group", feature),
                    evidence=evidence,
                    threshold=threshold,
                    words={
                        "what": "membership AUC of the loss-threshold attack",
                        "where": f"training rows of {'/'.join(top.group)} ({'×'.join(feature)})",
                    },
                )
            )
        return measured
