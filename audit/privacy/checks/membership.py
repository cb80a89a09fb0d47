"""privacy.membership_inference: the model's output tells its training rows from others.

Each attack's AUC (and its true positive rate at a 1% false positive rate, the low-FPR view
of Carlini et al., 2022) against the policy's thresholds, graded by the bootstrap interval;
then each sensitive feature's groups, where memorisation often shows first.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Grade, format_number, grade, make_finding
from audit.core.check_knowledge import CheckInfo, check_table
from audit.core.findings import Evidence, Finding
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

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        info = check_table()[self.id]
        result: MembershipResult = ready(privacy_report(context).membership)
        policy = context.policy
        findings = []
        sizes = (result.members, result.nonmembers)
        for attack in result.attacks:
            for metric, value, interval in (
                ("membership_auc", attack.auc, attack.ci),
                ("membership_tpr_at_1pct_fpr", attack.tpr_at_1pct_fpr, attack.tpr_at_1pct_fpr_ci),
            ):
                threshold = policy.thresholds.get(metric)
                if value is None or threshold is None:
                    continue
                graded = grade(info, threshold, value, interval)
                if graded is None:
                    continue
                evidence = Evidence(
                    metric=metric,
                    value=value,
                    interval=interval,
                    threshold=threshold.limit,
                    bound=threshold.bound,
                    n=sizes,
                    statistically_clear=graded.clear,
                    details={
                        "attack": attack.attack,
                        "nonmember_source": result.nonmember_source,
                        "yeom_advantage": result.yeom.advantage if result.yeom else None,
                        "accuracy_gap": (
                            result.generalization.accuracy_gap if result.generalization else None
                        ),
                    },
                )
                findings.append(
                    self._finding(
                        info,
                        context,
                        graded,
                        evidence,
                        threshold,
                        (attack.attack, metric),
                        what=f"{METRIC_WORDS[metric]} of the {ATTACK_WORDS[attack.attack]}",
                        where="the training rows",
                    )
                )
        findings.extend(self._groups(info, context, result))
        return tuple(findings)

    def _groups(
        self, info: CheckInfo, context: AuditContext, result: MembershipResult
    ) -> list[Finding]:
        threshold = context.policy.thresholds.get("membership_auc")
        if threshold is None:
            return []
        by_feature: dict[tuple[str, ...], list[tuple[MembershipGroup, Grade]]] = {}
        for group in result.groups:
            if group.status != "ok" or group.auc is None:
                continue
            graded = grade(info, threshold, group.auc, group.ci)
            if graded is not None:
                by_feature.setdefault(group.feature, []).append((group, graded))
        findings = []
        for feature, flagged in by_feature.items():
            worst_group, worst = max(
                flagged, key=lambda pair: (pair[1].severity.rank, pair[0].auc or 0.0)
            )
            evidence = Evidence(
                metric="membership_auc",
                value=worst_group.auc,
                interval=worst_group.ci,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=feature,
                groups=tuple(group.group for group, _ in flagged),
                n=tuple(group.members + group.nonmembers for group, _ in flagged),
                statistically_clear=worst.clear,
                details={
                    "attack": "loss_threshold",
                    "group_auc": [group.auc for group, _ in flagged],
                    "members": [group.members for group, _ in flagged],
                    "nonmembers": [group.nonmembers for group, _ in flagged],
                },
            )
            findings.append(
                self._finding(
                    info,
                    context,
                    worst,
                    evidence,
                    threshold,
                    ("group", feature),
                    what="membership AUC of the loss-threshold attack",
                    where=f"training rows of {'/'.join(worst_group.group)} ({'×'.join(feature)})",
                )
            )
        return findings

    @staticmethod
    def _finding(
        info: CheckInfo,
        context: AuditContext,
        graded: Grade,
        evidence: Evidence,
        threshold: Threshold,
        key: tuple[object, ...],
        what: str,
        where: str,
    ) -> Finding:
        return make_finding(
            info,
            context,
            graded,
            evidence,
            key=key,
            what=what,
            where=where,
            value=format_number(evidence.value),
            bound="minimum" if threshold.bound == "min" else "maximum",
            threshold=format_number(threshold.limit),
        )
