"""Membership inference: can someone tell from the model's output whether a row was trained on?

Two black-box attacks, each reported as a ROC curve over members (``--train-data``) and
non-members (``--holdout``, else the audited data):

- loss threshold (Yeom et al., 2018, "Privacy risk in machine learning"): a low loss on the
  true label suggests a member; the attack score is the negative cross-entropy loss;
- confidence threshold (Salem et al., 2019, "ML-Leaks"): a confident output suggests a
  member, with no label needed; the attack score is the top class probability.

Following Carlini et al. (2022, "Membership inference attacks from first principles") the
true positive rate at low false positive rates (1%, 0.1%) is reported beside the AUC.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audit.privacy.report import (
    AttackResult,
    Generalization,
    MembershipGroup,
    MembershipResult,
    YeomAttack,
)
from audit.privacy.roc import roc_summary

FPR_LEVELS = (0.01, 0.001)
# Probabilities are clipped so that a confident wrong answer has a large, finite loss.
_EPSILON = 1e-12


@dataclass(frozen=True)
class Scored:
    """One set of rows as the model saw them: true labels, positive-class scores, decisions."""

    labels: np.ndarray  # 1 for the positive class
    scores: np.ndarray  # positive-class probability
    decisions: np.ndarray


@dataclass(frozen=True)
class GroupCodes:
    """A sensitive feature over members then non-members: codes index ``groups``."""

    feature: str
    groups: tuple[str, ...]
    members: np.ndarray
    nonmembers: np.ndarray


def row_loss(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of each row's true label."""
    probability = np.where(np.asarray(labels) == 1, scores, 1.0 - np.asarray(scores))
    return -np.log(np.clip(probability.astype(np.float64), _EPSILON, 1.0))


def confidence(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    return np.maximum(scores, 1.0 - scores)


def yeom_attack(member_loss: np.ndarray, nonmember_loss: np.ndarray) -> YeomAttack:
    """Call a row a member when its loss is at most the mean training loss."""
    threshold = float(member_loss.mean())
    tpr = float((member_loss <= threshold).mean())
    fpr = float((nonmember_loss <= threshold).mean())
    return YeomAttack(threshold, tpr, fpr, tpr - fpr)


def _attack(
    name: str,
    member_scores: np.ndarray,
    nonmember_scores: np.ndarray,
    n_boot: int,
    level: float,
    rng: np.random.Generator,
) -> AttackResult:
    scores = np.concatenate([member_scores, nonmember_scores])
    is_member = np.r_[np.ones(len(member_scores), bool), np.zeros(len(nonmember_scores), bool)]
    summary = roc_summary(scores, is_member, FPR_LEVELS, n_boot, level, rng)
    undefined = {}
    for fpr, key in ((0.01, "tpr_at_1pct_fpr"), (0.001, "tpr_at_0_1pct_fpr")):
        if summary.tpr_at_fpr[fpr] is None:
            undefined[key] = (
                f"needs at least {round(1 / fpr)} non-members to measure a {fpr:.1%} false "
                f"positive rate; there are {len(nonmember_scores)}"
            )
    return AttackResult(
        attack=name,  # type: ignore[arg-type]
        auc=summary.auc,
        ci=summary.auc_ci,
        tpr_at_1pct_fpr=summary.tpr_at_fpr[0.01],
        tpr_at_1pct_fpr_ci=summary.tpr_ci[0.01],
        tpr_at_0_1pct_fpr=summary.tpr_at_fpr[0.001],
        tpr_at_0_1pct_fpr_ci=summary.tpr_ci[0.001],
        undefined=undefined,
    )


def _generalization(members: Scored, nonmembers: Scored) -> Generalization:
    train_accuracy = float((members.decisions == members.labels).mean())
    holdout_accuracy = float((nonmembers.decisions == nonmembers.labels).mean())
    train_loss = float(row_loss(members.labels, members.scores).mean())
    holdout_loss = float(row_loss(nonmembers.labels, nonmembers.scores).mean())
    return Generalization(
        train_accuracy=train_accuracy,
        holdout_accuracy=holdout_accuracy,
        accuracy_gap=train_accuracy - holdout_accuracy,
        train_loss=train_loss,
        holdout_loss=holdout_loss,
        loss_gap=holdout_loss - train_loss,
    )


def _groups(
    features: Sequence[GroupCodes],
    members: Scored,
    nonmembers: Scored,
    min_group_size: int,
    n_boot: int,
    level: float,
    seed: int,
) -> list[MembershipGroup]:
    # The loss attack's score: a lower loss means more likely a member.
    member_score = -row_loss(members.labels, members.scores)
    nonmember_score = -row_loss(nonmembers.labels, nonmembers.scores)
    results = []
    for index, feature in enumerate(features):
        for code, label in enumerate(feature.groups):
            in_members = feature.members == code
            in_nonmembers = feature.nonmembers == code
            n_members, n_nonmembers = int(in_members.sum()), int(in_nonmembers.sum())
            if not n_members and not n_nonmembers:
                continue
            if min(n_members, n_nonmembers) < min_group_size:
                results.append(
                    MembershipGroup(
                        (feature.feature,),
                        (label,),
                        n_members,
                        n_nonmembers,
                        "insufficient_data",
                        None,
                        None,
                        None,
                        None,
                    )
                )
                continue
            attack = _attack(
                "loss_threshold",
                member_score[in_members],
                nonmember_score[in_nonmembers],
                n_boot,
                level,
                np.random.default_rng([seed, 7, index, code]),
            )
            gap = _generalization(
                Scored(
                    members.labels[in_members],
                    members.scores[in_members],
                    members.decisions[in_members],
                ),
                Scored(
                    nonmembers.labels[in_nonmembers],
                    nonmembers.scores[in_nonmembers],
                    nonmembers.decisions[in_nonmembers],
                ),
            )
            results.append(
                MembershipGroup(
                    feature=(feature.feature,),
                    group=(label,),
                    members=n_members,
                    nonmembers=n_nonmembers,
                    status="ok",
                    auc=attack.auc,
                    ci=attack.ci,
                    tpr_at_1pct_fpr=attack.tpr_at_1pct_fpr,
                    accuracy_gap=gap.accuracy_gap,
                )
            )
    return results


def membership_inference(
    members: Scored,
    nonmembers: Scored,
    nonmember_source: str,
    groups: Sequence[GroupCodes] = (),
    *,
    n_boot: int,
    confidence_level: float,
    seed: int,
    min_group_size: int,
) -> MembershipResult:
    """Both attacks, the Yeom advantage, the generalization gap, and the loss attack per group."""
    clock = time.perf_counter()
    member_loss = row_loss(members.labels, members.scores)
    nonmember_loss = row_loss(nonmembers.labels, nonmembers.scores)
    attacks = (
        _attack(
            "loss_threshold",
            -member_loss,
            -nonmember_loss,
            n_boot,
            confidence_level,
            np.random.default_rng([seed, 5]),
        ),
        _attack(
            "confidence_threshold",
            confidence(members.scores),
            confidence(nonmembers.scores),
            n_boot,
            confidence_level,
            np.random.default_rng([seed, 6]),
        ),
    )
    return MembershipResult(
        status="ok",
        members=len(members.labels),
        nonmembers=len(nonmembers.labels),
        nonmember_source=nonmember_source,  # type: ignore[arg-type]
        attacks=attacks,
        yeom=yeom_attack(member_loss, nonmember_loss),
        generalization=_generalization(members, nonmembers),
        groups=tuple(
            _groups(groups, members, nonmembers, min_group_size, n_boot, confidence_level, seed)
        ),
        seconds=round(time.perf_counter() - clock, 3),
    )
