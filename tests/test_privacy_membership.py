"""Membership inference against models trained here: one that memorises, one that does not.

The loss-threshold attack is checked against the published method (Yeom et al., 2018,
"Privacy risk in machine learning: analyzing the connection to overfitting", CSF; its
threshold adversary calls a row a member when its loss is at most the mean training loss)
computed independently here from torch's own cross-entropy, and the ROC figures against
scikit-learn's roc_auc_score and roc_curve.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from audit import AuditRequest, run_audit
from audit.core.registry import CHECKS
from audit.privacy.membership import GroupCodes, Scored, membership_inference
from audit.privacy.roc import roc_summary

WIDTH = 20
# Rows the memorising model is trained on (and as many unseen ones).
MEMORISED = 150


def make_rows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels with a weak signal: most of each label is noise to memorise."""
    x = rng.normal(size=(n, WIDTH)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=1.5, size=n) > 0).astype(np.float32)
    return x, y


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(WIDTH, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1)
    )


def train(
    x: np.ndarray, y: np.ndarray, epochs: int, validation: tuple[np.ndarray, np.ndarray] | None
) -> nn.Module:
    """Full-batch Adam; with ``validation``, stop when its loss has not improved for 5 epochs
    and keep the best weights (early stopping)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    # One thread: these small matrices gain nothing from more, and a busy machine makes
    # several threads contend (seconds instead of a fraction of one).
    torch.set_num_threads(1)
    try:
        return _fit(x, y, epochs, validation)
    finally:
        torch.set_num_threads(threads)


def _fit(
    x: np.ndarray, y: np.ndarray, epochs: int, validation: tuple[np.ndarray, np.ndarray] | None
) -> nn.Module:
    model = mlp()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    best, best_state, patience = np.inf, None, 0
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(inputs)[:, 0], targets)
        loss.backward()
        optimiser.step()
        if validation is not None:
            with torch.no_grad():
                val = nn.functional.binary_cross_entropy_with_logits(
                    model(torch.from_numpy(validation[0]))[:, 0], torch.from_numpy(validation[1])
                ).item()
            if val < best - 1e-4:
                best, patience = val, 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                patience += 1
                if patience >= 5:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval()


def logits_of(model: nn.Module, x: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.from_numpy(x))[:, 0].double()


def scored(model: nn.Module, x: np.ndarray, y: np.ndarray) -> Scored:
    scores = torch.sigmoid(logits_of(model, x)).numpy()
    return Scored(y.astype(np.int8), scores, (scores >= 0.5).astype(np.int8))


@pytest.fixture(scope="module")
def memorising() -> tuple[nn.Module, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    members, nonmembers = make_rows(MEMORISED, rng), make_rows(MEMORISED, rng)
    return train(*members, epochs=200, validation=None), members, nonmembers


@pytest.fixture(scope="module")
def generalising() -> tuple[
    nn.Module, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]
]:
    rng = np.random.default_rng(1)
    members, validation, nonmembers = (
        make_rows(8000, rng),
        make_rows(1000, rng),
        make_rows(2000, rng),
    )
    model = train(*members, epochs=300, validation=validation)
    return model, (members[0][:2000], members[1][:2000]), nonmembers


def _run(model: nn.Module, members, nonmembers, n_boot: int = 200):  # type: ignore[no-untyped-def]
    return membership_inference(
        scored(model, *members),
        scored(model, *nonmembers),
        "holdout",
        n_boot=n_boot,
        confidence_level=0.95,
        seed=0,
        min_group_size=30,
    )


def test_a_memorising_mlp_is_exposed_and_an_early_stopped_one_is_not(
    memorising,
    generalising,  # type: ignore[no-untyped-def]
) -> None:
    leaky = _run(*memorising)
    loss, conf = leaky.attacks
    assert loss.attack == "loss_threshold" and conf.attack == "confidence_threshold"
    assert loss.auc > 0.72 and loss.ci[0] > 0.65
    assert conf.auc > 0.6
    assert leaky.generalization.accuracy_gap > 0.2
    assert leaky.yeom.advantage > 0.3
    # 150 non-members cannot measure a 0.1% false positive rate; 1% they can.
    assert (
        loss.tpr_at_0_1pct_fpr is None and "1000 non-members" in loss.undefined["tpr_at_0_1pct_fpr"]
    )
    assert loss.tpr_at_1pct_fpr is not None

    safe = _run(*generalising)
    loss, conf = safe.attacks
    assert abs(loss.auc - 0.5) < 0.03 and loss.ci[0] < 0.5 < loss.ci[1]
    assert abs(conf.auc - 0.5) < 0.03
    assert abs(safe.generalization.accuracy_gap) < 0.03
    assert abs(safe.yeom.advantage) < 0.06
    assert loss.tpr_at_0_1pct_fpr is not None  # 2000 non-members measure 0.1%


def test_loss_attack_matches_yeom_et_al_computed_independently(memorising) -> None:  # type: ignore[no-untyped-def]
    model, members, nonmembers = memorising
    result = _run(model, members, nonmembers, n_boot=0)
    # The published attack, from torch's cross-entropy on the logits (not our loss code).
    member_loss = nn.functional.binary_cross_entropy_with_logits(
        logits_of(model, members[0]), torch.from_numpy(members[1]).double(), reduction="none"
    ).numpy()
    nonmember_loss = nn.functional.binary_cross_entropy_with_logits(
        logits_of(model, nonmembers[0]), torch.from_numpy(nonmembers[1]).double(), reduction="none"
    ).numpy()
    threshold = member_loss.mean()
    tpr = (member_loss <= threshold).mean()
    fpr = (nonmember_loss <= threshold).mean()
    assert result.yeom.threshold == pytest.approx(threshold, rel=1e-6)
    assert result.yeom.true_positive_rate == pytest.approx(tpr, abs=1 / MEMORISED)
    assert result.yeom.false_positive_rate == pytest.approx(fpr, abs=1 / MEMORISED)
    assert result.yeom.advantage == pytest.approx(tpr - fpr, abs=2 / MEMORISED)
    truth = np.r_[np.ones(MEMORISED), np.zeros(MEMORISED)]
    expected_auc = roc_auc_score(truth, -np.r_[member_loss, nonmember_loss])
    assert result.attacks[0].auc == pytest.approx(expected_auc, abs=2e-3)


def test_roc_summary_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(5)
    scores = np.round(rng.normal(size=3000), 1)  # many ties
    positive = rng.random(3000) < 1 / (1 + np.exp(-scores))
    summary = roc_summary(scores, positive, (0.01, 0.001), 300, 0.95, np.random.default_rng(0))
    assert summary.auc == pytest.approx(roc_auc_score(positive, scores), abs=1e-12)
    fpr, tpr, _ = roc_curve(positive, scores, drop_intermediate=False)
    assert summary.tpr_at_fpr[0.01] == pytest.approx(tpr[fpr <= 0.01].max(), abs=1e-12)
    assert summary.tpr_at_fpr[0.001] == pytest.approx(tpr[fpr <= 0.001].max(), abs=1e-12)
    low, high = summary.auc_ci
    # The interval holds the estimate and has the width a bootstrap of 3000 rows gives.
    assert low < summary.auc < high and 0.01 < high - low < 0.08
    again = roc_summary(scores, positive, (0.01,), 300, 0.95, np.random.default_rng(0))
    assert again.auc_ci == summary.auc_ci


def test_groups_each_get_their_own_attack() -> None:
    rng = np.random.default_rng(2)
    n = 400
    labels = rng.integers(0, 2, n).astype(np.int8)
    group_members = rng.integers(0, 3, n)
    group_nonmembers = rng.integers(0, 3, n)
    # Only group 0's members are fitted closely: its loss attack works, the others' do not.
    member_scores = np.where(labels == 1, 0.6, 0.4)
    member_scores = np.where(group_members == 0, np.where(labels == 1, 0.95, 0.05), member_scores)
    noise = rng.uniform(-0.05, 0.05, n)
    members = Scored(labels, member_scores + noise, (member_scores >= 0.5).astype(np.int8))
    nonmembers = Scored(
        labels, np.where(labels == 1, 0.6, 0.4) + noise[::-1], (labels == 1).astype(np.int8)
    )
    codes = GroupCodes("g", ("a", "b", "c"), group_members, group_nonmembers)
    result = membership_inference(
        members,
        nonmembers,
        "holdout",
        [codes],
        n_boot=100,
        confidence_level=0.95,
        seed=0,
        min_group_size=30,
    )
    by_group = {group.group: group for group in result.groups}
    for label, code in (("a", 0), ("b", 1), ("c", 2)):
        in_m, in_n = group_members == code, group_nonmembers == code
        truth = np.r_[np.ones(in_m.sum()), np.zeros(in_n.sum())]
        loss = lambda s: -np.log(np.where(s.labels == 1, s.scores, 1 - s.scores))  # noqa: E731
        expected = roc_auc_score(truth, -np.r_[loss(members)[in_m], loss(nonmembers)[in_n]])
        assert by_group[(label,)].auc == pytest.approx(expected, abs=1e-9)
        assert by_group[(label,)].members == int(in_m.sum())
    assert by_group[("a",)].auc > 0.9 and abs(by_group[("b",)].auc - 0.5) < 0.15


def test_run_audit_with_train_data_and_holdout(tmp_path: Path, memorising) -> None:  # type: ignore[no-untyped-def]
    model, members, nonmembers = memorising
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
        torch.jit.save(scripted, str(tmp_path / "model.pt"))
    columns = [f"x{i}" for i in range(WIDTH)]

    def table(x: np.ndarray, y: np.ndarray, name: str) -> Path:
        frame = pd.DataFrame(x, columns=columns)
        frame["label"] = y.astype(int)
        frame["grp"] = np.where(np.arange(len(y)) % 2 == 0, "even", "odd")
        path = tmp_path / name
        frame.to_csv(path, index=False)
        return path

    train_csv = table(*members, "train.csv")
    holdout_csv = table(*nonmembers, "holdout.csv")
    request = AuditRequest(
        data=holdout_csv,
        model=tmp_path / "model.pt",
        target="label",
        sensitive=("grp",),
        features=tuple(columns),
        train_data=train_csv,
        holdout=holdout_csv,
        search_config=False,
        policy_overrides={"n_boot": 100},
    )
    # The privacy checks only: the other stages are tested elsewhere and cost time here.
    result = run_audit(request, [check for check in CHECKS if check.id.startswith("privacy.")])
    membership = result.privacy.membership
    assert (membership.status, membership.members, membership.nonmembers) == (
        "ok",
        MEMORISED,
        MEMORISED,
    )
    assert membership.nonmember_source == "holdout"
    # The CSV round trip writes float32 features as text; scores match the in-memory model.
    direct = _run(model, members, nonmembers, n_boot=0)
    assert membership.attacks[0].auc == pytest.approx(direct.attacks[0].auc, abs=2e-3)
    assert [group.group for group in membership.groups] == [("even",), ("odd",)]
    flagged = [f for f in result.findings if f.check == "privacy.membership_inference"]
    assert {f.evidence.metric for f in flagged} >= {"membership_auc"}
    worst = max(flagged, key=lambda f: f.severity.rank)
    assert worst.severity.value in ("high", "critical")
    assert worst.evidence.value > 0.6 and worst.accountable.value == "developer"
