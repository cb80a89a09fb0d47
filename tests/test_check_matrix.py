"""One matrix for every released check, as Bandit tests its plugins: a row per check.

Each row names a *planted* audit that must make the check report (a finding of the check, or
for a check merged into a cause, one of the cause's measurements: ``Finding.measurements``),
the subject the measurement must name, its metric, grade and owner, and its value against a
computation done here with numpy, pandas or scikit-learn; a *clean* audit under which the check
runs and reports nothing at medium or above; and, where its stage can be missing, the reason
the check gives when it is skipped.

Every audit goes through the public API, ``run_audit(AuditRequest(...))``, so the matrix does
not depend on what a check returns internally. The audits are small, built once per module
(and per test worker) on first use, and several rows read the same one: one tabular planted
audit holds the fairness, data, privacy and explanation cases, one text audit the text cases.
"""

from __future__ import annotations

import os
import pickletools
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FAST_N_BOOT, Workspace, default_logits, linear, make_frame
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from test_check_ids import RELEASED
from test_data_fit import audit as data_fit_audit
from test_data_fit import numpy_psi, people, scores_of
from test_robustness import audit as robustness_audit
from test_robustness import expected_flip_rates, expected_recourse
from test_robustness import planted_frame as robustness_frame
from test_robustness import scores_of as robustness_scores
from test_text_kit import (
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    BagModel,
    bag_scores,
    save_text_model,
    sentences,
    tokenize,
    vocabulary,
)
from torch import nn

from audit.api import AuditRequest, run_audit
from audit.core.findings import Finding, RelatedEvidence, Role, Severity
from audit.core.registry import CHECKS, STAGES
from audit.core.result import AuditResult, CheckRun, CheckStatus

# --- models known by construction ---------------------------------------------------------


class AdditiveModel(nn.Module):
    """p = 0.5 + sum_j bent_j * tanh(x_j - shift_j) + slope_j * x_j, read as a probability.

    Additive, so SHAP's values (and Integrated Gradients') are exact per column: a column's
    attribution depends on its own value only, and the tests compute shares from the table.
    """

    def __init__(self, bent: list[float], slope: list[float], shift: list[float]) -> None:
        super().__init__()
        self.register_buffer("bent", torch.tensor(bent, dtype=torch.float32))
        self.register_buffer("slope", torch.tensor(slope, dtype=torch.float32))
        self.register_buffer("shift", torch.tensor(shift, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.tanh(x - self.shift) * self.bent + x * self.slope
        return 0.5 + parts.sum(dim=1, keepdim=True)


class SteppedModel(nn.Module):
    """p = 0.5 + 0.3 sign(x1): the output moves with x1, but its gradient is zero everywhere,
    so gradient attributions are all zero and cannot add up to f(x) - f(reference)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 + 0.3 * torch.sign(x[:, :1]) + 0.0 * x.sum(dim=1, keepdim=True)


# The memorising model's kernel width and logit scale (TorchScript reads no module globals).
KERNEL = 0.01
MEMORY_LOGIT = 10.0


class MemorisingModel(nn.Module):
    """Logit 10 * sum_j (2 y_j - 1) exp(-|x - t_j|^2 / 0.01) over its training rows t_j: sure of
    its training rows' labels, unsure (logit near 0) of rows it never saw."""

    def __init__(self, members: np.ndarray, signs: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("members", torch.tensor(members, dtype=torch.float32))
        self.register_buffer("signs", torch.tensor(signs, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        distance = ((x[:, None, :] - self.members[None, :, :]) ** 2).sum(dim=2)
        return (10.0 * (torch.exp(-distance / 0.01) @ self.signs))[:, None]


# The planted tabular model's inputs: x1, x2, proxy, zip3, sex one-hot (F, M).
PLANTED_METADATA = {
    "format": "rai-audit/features-v1",
    "features": [
        {"column": "x1", "kind": "numeric"},
        {"column": "x2", "kind": "numeric"},
        {"column": "proxy", "kind": "numeric"},
        {"column": "zip3", "kind": "numeric"},
        {"column": "sex", "kind": "categorical", "categories": ["F", "M"]},
    ],
    "class_labels": ["0", "1"],
    "positive_label": "1",
    "output_kind": "probabilities",
}
# Sex moves the probability by 0.3 (direct use), proxy tracks sex and carries 0.12 * tanh.
SEX_EFFECT = 0.15
BENT = 0.12
PROXY_SHIFT = 0.75  # the mean of proxy, so tanh(proxy - shift) is centred
SMALL_REGION = 12  # rows of region "island": fewer than min_group_size (30)


def planted_parts(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The planted model's additive parts per column, with numpy: p = 0.5 + their sum."""
    male = (frame["sex"] == "M").to_numpy()
    return {
        "x1": BENT * np.tanh(frame["x1"].to_numpy()),
        "proxy": BENT * np.tanh(frame["proxy"].to_numpy() - PROXY_SHIFT),
        "sex": np.where(male, SEX_EFFECT, -SEX_EFFECT),
    }


def planted_scores(frame: pd.DataFrame) -> np.ndarray:
    return 0.5 + sum(planted_parts(frame).values())


def planted_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """People whose labels are calibrated to the planted scores for men and 0.25 below them for
    women (a base-rate and a calibration gap); an unused e-mail column, a zip code the model
    reads, and a region with one group too small to measure."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=rows)
    male = sex == "M"
    region = np.where(rng.random(rows) < 0.5, "north", "south").astype(object)
    region[:SMALL_REGION] = "island"
    frame = pd.DataFrame(
        {
            "x1": np.round(rng.normal(size=rows), 6),
            "x2": np.round(rng.normal(size=rows), 6),
            "proxy": np.round(1.5 * male + rng.normal(size=rows), 6),
            "zip3": np.arange(rows) % 900 + 100,
            "sex": sex,
            "region": region,
            "contact": [f"person{i}@mail{i % 7}.example.org" for i in range(rows)],
        }
    )
    scores = planted_scores(frame)
    frame["label"] = (rng.random(rows) < np.where(male, scores, scores - 0.25)).astype(int)
    return frame


def clean_frame(seed: int = 0) -> pd.DataFrame:
    """conftest's exactly fair table (every sex x group cell holds the same rows) with a third
    feature, repeated the same way, so that three columns' rankings can be compared."""
    frame = make_frame(seed=seed)
    x3 = np.round(np.random.default_rng([seed, 3]).normal(size=40), 6)
    return frame.assign(x3=np.tile(x3, len(frame) // 40))


CLEAN_WEIGHTS = [[0.0, 0.0, 0.0], [1.0, 0.5, 0.25]]  # logits over x2, x1, x3


def softmax_positive(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(logits[:, 1] - logits[:, 0])))


def member_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": np.round(rng.normal(size=rows), 6),
            "x2": np.round(rng.normal(size=rows), 6),
            "sex": rng.choice(["F", "M"], size=rows),
            "label": rng.integers(0, 2, rows),
        }
    )


def memorised_scores(members: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    points = members[["x1", "x2"]].to_numpy()
    signs = 2.0 * members["label"].to_numpy() - 1.0
    x = rows[["x1", "x2"]].to_numpy()
    distance = ((x[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    logit = MEMORY_LOGIT * (np.exp(-distance / KERNEL) @ signs)
    return 1.0 / (1.0 + np.exp(-logit))


# The text model: a bag of tokens with hand-set weights (test_text_kit.BagModel).
TEXT_ROWS = 300
PLANTED_TOKENS = {"woman": -8.0, "@": -12.0}  # a gender term, and any e-mail address


def bag_model(vocab: list[str], planted: bool) -> BagModel:
    weights = np.zeros(len(vocab))
    for index, token in enumerate(vocab):
        weights[index] = 4.0 * (token in POSITIVE_WORDS) - 4.0 * (token in NEGATIVE_WORDS)
        if planted:
            weights[index] += PLANTED_TOKENS.get(token, 0.0)
    model = BagModel(len(vocab))
    with torch.no_grad():
        model.embedding.weight.copy_(torch.from_numpy(weights[:, None]))
    return model.eval()


# --- the audits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    result: AuditResult
    frame: pd.DataFrame  # the audited rows
    # The positive-class probability of each audited row, computed here without the engine.
    scores: np.ndarray
    # A text model's probability of any texts, computed from its weights with numpy.
    rescore: Callable[[list[str]], np.ndarray] | None = None
    members: pd.DataFrame | None = None  # --train-data
    model: Path | None = None


def audit(**fields: Any) -> AuditResult:
    policy = {"n_boot": FAST_N_BOOT, **fields.pop("policy_overrides", {})}
    return run_audit(AuditRequest(search_config=False, policy_overrides=policy, **fields))


def tabular(workspace: Workspace) -> Scenario:
    frame = planted_frame()
    model = AdditiveModel(
        bent=[BENT, 0.0, BENT, 0.0, 0.0, 0.0],
        slope=[0.0, 0.0, 0.0, 0.0, -SEX_EFFECT, SEX_EFFECT],
        shift=[0.0, 0.0, PROXY_SHIFT, 0.0, 0.0, 0.0],
    )
    result = audit(
        data=workspace.table(frame, "planted.csv"),
        model=workspace.torchscript(model, "planted.pt", PLANTED_METADATA),
        target="label",
        sensitive=("sex", "region"),
        explain_samples=len(frame),  # every row explained, each with weight 1
    )
    return Scenario(result, frame, planted_scores(frame))


def unstable(workspace: Workspace) -> Scenario:
    frame = planted_frame()
    result = audit(
        data=workspace.table(frame, "unstable.csv"),
        model=workspace.torchscript(SteppedModel(), "unstable.pt", PLANTED_METADATA),
        target="label",
        sensitive=("sex",),
        explain_samples=len(frame),
    )
    return Scenario(result, frame, 0.5 + 0.3 * np.sign(frame["x1"].to_numpy()))


def memorised(workspace: Workspace) -> Scenario:
    members, holdout = member_frame(150, seed=1), member_frame(150, seed=2)
    model = MemorisingModel(
        members[["x1", "x2"]].to_numpy(), 2.0 * members["label"].to_numpy() - 1.0
    )
    data = workspace.table(holdout, "holdout.csv")
    result = audit(
        data=data,
        model=workspace.torchscript(model, "memorised.pt"),
        features=("x1", "x2"),
        output_kind="logits",
        target="label",
        sensitive=("sex",),
        train_data=workspace.table(members, "train.csv"),
        holdout=data,
    )
    return Scenario(result, holdout, memorised_scores(members, holdout), members=members)


def unsafe(workspace: Workspace) -> Scenario:
    frame = make_frame()
    estimator = LogisticRegression().fit(frame[["x2", "x1"]], frame["label"])
    estimator.hook = os.system  # pickled as a global reference, never called
    model = workspace.pickle(estimator)
    result = audit(
        data=workspace.table(frame, "unsafe.csv"),
        model=model,
        features=("x2", "x1"),
        trust_model=True,
        allow_unsafe_imports=("os.system",),
        target="label",
        sensitive=("sex",),
    )
    scores = estimator.predict_proba(frame[["x2", "x1"]])[:, 1]
    return Scenario(result, frame, scores, model=model)


def clean(workspace: Workspace) -> Scenario:
    """A fair model on exactly fair data; training and unseen rows it cannot tell apart."""
    frame = clean_frame()
    features = ("x2", "x1", "x3")
    result = audit(
        data=workspace.table(frame, "clean.csv"),
        model=workspace.torchscript(linear(CLEAN_WEIGHTS, [0.0, 0.0]), "clean.pt"),
        features=features,
        target="label",
        sensitive=("sex", "group"),
        train_data=workspace.table(clean_frame(seed=1), "train.csv"),
        holdout=workspace.table(clean_frame(seed=2), "holdout.csv"),
        explain_samples=len(frame),
    )
    logits = frame[list(features)].to_numpy() @ np.asarray(CLEAN_WEIGHTS).T
    return Scenario(result, frame, softmax_positive(logits))


def decisions(workspace: Workspace) -> Scenario:
    """The same fair table audited from its decisions and scores alone, without a model."""
    frame = make_frame()
    scores = softmax_positive(default_logits(frame))
    frame = frame.assign(decision=(scores >= 0.5).astype(int), score=scores)
    result = audit(
        data=workspace.table(frame, "decisions.csv"),
        predictions="decision",
        scores="score",
        target="label",
        sensitive=("sex", "group"),
    )
    return Scenario(result, frame, scores)


def text_audit(workspace: Workspace, planted: bool) -> Scenario:
    frame = sentences(TEXT_ROWS, seed=11)
    vocab = [*vocabulary(frame), "@"]
    model = bag_model(vocab, planted)
    path = save_text_model(workspace.root / "text.pt", model, vocab)
    result = audit(
        data=workspace.table(frame, "reviews.csv"),
        model=path,
        text_column="text",
        target="label",
        # Every text gets the inserted personal data, so the test can rescore them all.
        policy_overrides={
            "text": {"pii_rows": TEXT_ROWS, "attribution_rows": 5, "attribution_examples": 0}
        },
    )

    def rescore(texts: list[str]) -> np.ndarray:
        return bag_scores(model, vocab, texts)

    return Scenario(result, frame, rescore(frame["text"].tolist()), rescore=rescore, model=path)


def robustness_scenario(kind: str) -> Callable[[Workspace], Scenario]:
    """test_robustness's planted audits: fragile (one group at the threshold), steep (one
    group's recourse far), steady (neither)."""

    def build(workspace: Workspace) -> Scenario:
        frame = robustness_frame(kind)
        return Scenario(robustness_audit(workspace, kind), frame, robustness_scores(frame, kind))

    return build


def drifted(workspace: Workspace) -> Scenario:
    """Women's income moved away from the training data; a third of the south's labels
    flipped (test_data_fit.people)."""
    train = people(3000, seed=1)
    frame = people(2000, seed=2, income_shift=1.5, flip=0.3)
    result = data_fit_audit(workspace, frame, train)
    return Scenario(result, frame, scores_of(frame), members=train)


def drift_clean(workspace: Workspace) -> Scenario:
    """Audited data identical to the training data, with labels the model agrees with."""
    frame = people(1000, seed=3)
    return Scenario(data_fit_audit(workspace, frame, frame), frame, scores_of(frame), members=frame)


BUILDERS: dict[str, Callable[[Workspace], Scenario]] = {
    "tabular": tabular,
    "unstable": unstable,
    "memorised": memorised,
    "unsafe": unsafe,
    "text": lambda workspace: text_audit(workspace, planted=True),
    "clean": clean,
    "decisions": decisions,
    "drifted": drifted,
    "drift_clean": drift_clean,
    "text_clean": lambda workspace: text_audit(workspace, planted=False),
    "fragile": robustness_scenario("fragile"),
    "steep": robustness_scenario("steep"),
    "steady": robustness_scenario("steady"),
}


class Scenarios:
    """Each audit built once, on first use: a test worker builds only those its rows read."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._built: dict[str, Scenario] = {}

    def __getitem__(self, name: str) -> Scenario:
        if name not in self._built:
            self._built[name] = BUILDERS[name](Workspace(self._factory.mktemp(name)))
        return self._built[name]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Scenarios:
    return Scenarios(tmp_path_factory)


# --- independent computations -----------------------------------------------------------------


def male(scenario: Scenario) -> np.ndarray:
    return (scenario.frame["sex"] == "M").to_numpy()


def labels(scenario: Scenario) -> np.ndarray:
    return scenario.frame["label"].to_numpy()


def selection_ratio(scenario: Scenario) -> float:
    decided = scenario.scores >= 0.5
    rates = [decided[~male(scenario)].mean(), decided[male(scenario)].mean()]
    return float(min(rates) / max(rates))


def expected_calibration_error(scores: np.ndarray, outcome: np.ndarray) -> float:
    """ECE over ten equal-width bins: sum over bins of |sum of scores - positives| / rows."""
    bins = np.minimum((scores * 10).astype(int), 9)
    gaps = [abs(scores[bins == b].sum() - outcome[bins == b].sum()) for b in range(10)]
    return float(sum(gaps) / len(scores))


def calibration_gap(scenario: Scenario) -> float:
    errors = [
        expected_calibration_error(scenario.scores[mask], labels(scenario)[mask])
        for mask in (~male(scenario), male(scenario))
    ]
    return max(errors) - min(errors)


def base_rate_gap(scenario: Scenario) -> float:
    rates = scenario.frame.groupby("sex")["label"].mean()
    return float(rates.max() - rates.min())


def smallest_region(scenario: Scenario) -> float:
    return float(scenario.frame["region"].value_counts().min())


def email_share(scenario: Scenario) -> float:
    return float(scenario.frame["contact"].str.contains("@").mean())


def membership_auc(scenario: Scenario) -> float:
    """The loss-threshold attack (Yeom et al. 2018): lower loss, more likely a member."""
    assert scenario.members is not None

    def loss(rows: pd.DataFrame, scores: np.ndarray) -> np.ndarray:
        return -np.log(np.where(rows["label"].to_numpy() == 1, scores, 1 - scores))

    members = memorised_scores(scenario.members, scenario.members)
    losses = np.r_[loss(scenario.members, members), loss(scenario.frame, scenario.scores)]
    truth = np.r_[np.ones(len(scenario.members)), np.zeros(len(scenario.frame))]
    return float(roc_auc_score(truth, -losses))


def sex_auc(scenario: Scenario) -> float:
    """How well the score alone tells men from women; the attack's AUC is close to it."""
    return float(roc_auc_score(male(scenario), scenario.scores))


def dangerous_imports(scenario: Scenario) -> float:
    """``os.system`` references in the pickle, read with pickletools (not the scanner)."""
    assert scenario.model is not None
    found: set[tuple[str, str]] = set()
    strings: list[str] = []
    for opcode, argument, _ in pickletools.genops(scenario.model.read_bytes()):
        if "UNICODE" in opcode.name:
            strings.append(str(argument))
        elif opcode.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
        elif opcode.name == "GLOBAL":
            module, name = str(argument).split(" ", 1)
            found.add((module, name))
    return float(
        sum(name == "system" and module in {"os", "posix", "nt"} for module, name in found)
    )


def attribution_share(column: str) -> Callable[[Scenario], float]:
    """A column's share of mean |SHAP value| of the additive model, from the table: its part
    minus the part's mean (SHAP's background is a sample of the rows, hence a tolerance)."""

    def share(scenario: Scenario) -> float:
        parts = planted_parts(scenario.frame)
        importance = {name: np.abs(part - part.mean()).mean() for name, part in parts.items()}
        return float(importance[column] / sum(importance.values()))

    return share


def sex_flip_rate(scenario: Scenario) -> float:
    """Changing only sex moves p by 2 * 0.15: the share of decisions that cross 0.5, for the
    direction (F to M or M to F) that changes most."""
    p, is_male = scenario.scores, male(scenario)
    to_male = (p[~is_male] < 0.5) & (p[~is_male] + 2 * SEX_EFFECT >= 0.5)
    to_female = (p[is_male] >= 0.5) & (p[is_male] - 2 * SEX_EFFECT < 0.5)
    return float(max(to_male.mean(), to_female.mean()))


def completeness_error(scenario: Scenario) -> float:
    """Zero gradients give zero attributions: they miss all of f(x) - f(reference)."""
    return 1.0


def woman_man_gap(scenario: Scenario) -> float:
    """Mean score change from swapping "woman" and "man" in the texts that hold one, signed so
    that a positive gap is the man-version judged better."""
    assert scenario.rescore is not None
    changed, swapped, sides = [], [], []
    for text in scenario.frame["text"]:
        tokens = tokenize(text)
        if "woman" in tokens or "man" in tokens:
            changed.append(text)
            swapped.append(
                re.sub(r"\b(woman|man)\b", lambda m: "man" if m[1] == "woman" else "woman", text)
            )
            sides.append(1.0 if "woman" in tokens else -1.0)
    before, after = scenario.rescore(changed), scenario.rescore(swapped)
    return float(np.mean((after - before) * np.array(sides)))


def flip_rate_gap(scenario: Scenario) -> float:
    rates = expected_flip_rates("fragile")
    return rates["B"] - rates["A"]


def recourse_share_gap(scenario: Scenario) -> float:
    found = expected_recourse("steep")
    reachable = pd.Series(np.isfinite(found["cost"].to_numpy())).groupby(found["group"]).mean()
    return float(reachable["A"] - reachable["B"])


def income_psi_gap(scenario: Scenario) -> float:
    """Women's PSI of income beyond sampling noise (at least 0) minus men's, each against its own
    training rows, with numpy (test_data_fit.numpy_psi)."""
    assert scenario.members is not None
    train, frame = scenario.members, scenario.frame
    every = train["income"].to_numpy()
    excess = {}
    for sex in ("F", "M"):
        t = train.loc[train["sex"] == sex, "income"].to_numpy()
        a = frame.loc[frame["sex"] == sex, "income"].to_numpy()
        edges = np.unique(np.quantile(every, np.linspace(0, 1, 11)[1:-1]))
        occupied = np.count_nonzero(
            np.bincount(np.searchsorted(edges, np.r_[t, a], side="right"), minlength=10)
        )
        noise = (occupied - 1) * (1 / len(a) + 1 / len(t))
        excess[sex] = max(numpy_psi(t, a, every) - noise, 0.0)
    return excess["F"] - excess["M"]


def south_label_noise(scenario: Scenario) -> float:
    """Share of the south's labels the model's scores contradict with confidence."""
    labels, scores = scenario.frame["label"].to_numpy(), scenario.scores
    contradicted = ((labels == 0) & (scores >= 0.9)) | ((labels == 1) & (scores <= 0.1))
    return float(contradicted[(scenario.frame["region"] == "south").to_numpy()].mean())


def knowledge(name: str) -> dict[str, Any]:
    text = resources.files("audit").joinpath(f"knowledge/{name}").read_text("utf-8")
    return tomllib.loads(text)


def woman_template_gap(scenario: Scenario) -> float:
    """The gender category's mean score on its neutral templates minus the term's."""
    assert scenario.rescore is not None
    templates = knowledge("identity_terms/templates.toml")["templates"]["noun"]
    groups = knowledge("identity_terms/gender.toml")["gender"]["groups"]
    terms = [term for group in groups.values() for term in group["probe_terms"]]
    grid = {
        term: scenario.rescore([template.replace("{term}", term) for template in templates])
        for term in terms
    }
    return float(np.mean(list(grid.values())) - grid["woman"].mean())


def female_bnsp_gap(scenario: Scenario) -> float:
    """Overall AUC minus the BNSP AUC of texts about women (Borkan et al. 2019)."""
    groups = knowledge("identity_terms/gender.toml")["gender"]["groups"]
    female_terms = set(groups["female"]["terms"])
    about = np.array([bool(female_terms & set(tokenize(t))) for t in scenario.frame["text"]])
    positive = (scenario.frame["label"] == "positive").to_numpy()
    overall = roc_auc_score(positive, scenario.scores)
    bnsp = (about & positive) | (~about & ~positive)
    return float(overall - roc_auc_score(positive[bnsp], scenario.scores[bnsp]))


def email_insertion_change(scenario: Scenario) -> float:
    """Minus the mean score change when an e-mail address is added to every text, in every
    form (knowledge/text_pii_probes.toml), the values taken in turn."""
    assert scenario.rescore is not None
    probes = knowledge("text_pii_probes.toml")
    values = probes["types"]["email"]["values"]
    texts = scenario.frame["text"].tolist()
    inserted, before = [], []
    for position, text in enumerate(texts):
        value = values[position % len(values)]
        for form in probes["forms"]:
            inserted.append(form.replace("{pii}", value).replace("{text}", text))
            before.append(scenario.scores[position])
    return float(-np.mean(scenario.rescore(inserted) - np.array(before)))


# --- the matrix -------------------------------------------------------------------------------

NO_SENSITIVE = (
    "no --sensitive column: a text audit's groups come from identity terms (see the text checks)"
)
NO_DRIFT_REFERENCE = (
    "no --train-data, and the model embeds no category lists or scaling: give the rows the "
    "model was trained on to measure drift"
)
NOT_TEXT = "not a text audit: give --text-column with a text model (docs/text-models.md)"
TEXT_MODEL = (
    "no explanations: a text model: token attributions are in the text section "
    "(docs/text-models.md)"
)
NO_MODEL = "no explanations: no model to explain: the audit reads decisions from --predictions"
NOT_PERTURBED = (
    "no robustness test: no model to perturb: the audit reads decisions from --predictions"
)
TEXT_NOT_PERTURBED = (
    "no robustness test: a text model: perturbing its inputs is the text section's counterfactuals"
)
NO_TRAIN_DATA = (
    "no --train-data: give the rows the model was trained on to test whether its output "
    "gives them away"
)


@dataclass(frozen=True)
class Row:
    check: str
    planted: str  # the audit that must make the check report
    subject: tuple[str, ...]  # the measurement's evidence.feature
    metric: str
    severity: Severity
    owner: Role  # who is accountable for the check's findings (its knowledge file)
    expected: Callable[[Scenario], float]  # the evidence value, computed here
    tolerance: float = 1e-6
    details: Mapping[str, Any] = field(default_factory=dict)  # held in evidence.details
    groups: tuple[tuple[str, ...], ...] | None = None  # evidence.groups, where it matters
    clean: tuple[str, ...] = ("clean",)  # audits in which it reports nothing medium or worse
    skipped: tuple[str, str] | None = None  # an audit without the check's stage, and why


ROWS: tuple[Row, ...] = (
    Row(
        "fairness.disparity",
        "tabular",
        ("sex",),
        "demographic_parity_ratio",
        Severity.CRITICAL,
        Role.DEVELOPER,
        selection_ratio,
        clean=("clean", "decisions"),
        skipped=("text", NO_SENSITIVE),
    ),
    Row(
        "fairness.four_fifths",
        "tabular",
        ("sex",),
        "selection_rate_ratio",
        Severity.CRITICAL,
        Role.DEPLOYER,
        selection_ratio,
        groups=(("F",), ("M",)),
        clean=("clean", "decisions"),
        skipped=("text", NO_SENSITIVE),
    ),
    Row(
        "fairness.calibration_gap",
        "tabular",
        ("sex",),
        "calibration_error_difference",
        Severity.CRITICAL,
        Role.DEVELOPER,
        calibration_gap,
        clean=("clean", "decisions"),
        skipped=("text", NO_SENSITIVE),
    ),
    Row(
        "data.small_groups",
        "tabular",
        ("region",),
        "group_size",
        Severity.LOW,
        Role.DEVELOPER,
        smallest_region,
        groups=(("island",),),
        clean=("clean", "decisions"),
        skipped=("text", NO_SENSITIVE),
    ),
    Row(
        "data.base_rate_gap",
        "tabular",
        ("sex",),
        "base_rate_gap",
        Severity.LOW,
        Role.DEVELOPER,
        base_rate_gap,
        groups=(("F",), ("M",)),
        clean=("clean", "decisions"),
        skipped=("text", NO_SENSITIVE),
    ),
    Row(
        "privacy.pii_in_data",
        "tabular",
        ("contact",),
        "pii_share",
        Severity.LOW,
        Role.DEVELOPER,
        email_share,
        details={"types": ["email"]},
        clean=("clean", "decisions"),
    ),
    Row(
        "privacy.pii_model_input",
        "tabular",
        ("zip3",),
        "pii_share",
        Severity.MEDIUM,
        Role.DEVELOPER,
        # Three-digit codes are no postcodes by their values; the name says what they are.
        lambda scenario: 0.0,
        details={"types": ["postcode"], "derived": True},
        skipped=("decisions", "no model: which columns it uses is unknown"),
    ),
    Row(
        "privacy.membership_inference",
        "memorised",
        (),
        "membership_auc",
        Severity.CRITICAL,
        Role.DEVELOPER,
        membership_auc,
        tolerance=0.01,
        details={"attack": "loss_threshold", "nonmember_source": "holdout"},
        skipped=("tabular", NO_TRAIN_DATA),
    ),
    Row(
        "privacy.attribute_inference",
        "tabular",
        ("sex",),
        "attribute_inference_auc",
        Severity.LOW,
        Role.DEVELOPER,
        sex_auc,
        tolerance=0.01,
        clean=("clean", "decisions"),
    ),
    Row(
        "privacy.unsafe_model_file",
        "unsafe",
        (),
        "dangerous_imports",
        Severity.HIGH,
        Role.DEVELOPER,
        dangerous_imports,
        details={"allowed_unsafe": ["os.system"], "format": "pickle"},
        clean=("clean", "tabular"),
    ),
    Row(
        "explain.direct_use",
        "tabular",
        ("sex",),
        "attribution_share",
        Severity.CRITICAL,
        Role.DEVELOPER,
        attribution_share("sex"),
        tolerance=0.01,
        details={"method": "shap"},
        skipped=("decisions", NO_MODEL),
    ),
    Row(
        "explain.proxy",
        "tabular",
        ("proxy", "sex"),
        "attribution_share",
        Severity.MEDIUM,
        Role.DEVELOPER,
        attribution_share("proxy"),
        tolerance=0.01,
        details={"proxy": "proxy", "attribute": "sex", "association_measure": "correlation_ratio"},
        skipped=("decisions", NO_MODEL),
    ),
    Row(
        "explain.counterfactual_flip",
        "tabular",
        ("sex",),
        "flip_rate",
        Severity.CRITICAL,
        Role.DEVELOPER,
        sex_flip_rate,
        groups=(("M",), ("F",)),
        skipped=("text", TEXT_MODEL),
    ),
    Row(
        "explain.instability",
        "unstable",
        (),
        "completeness_error",
        Severity.MEDIUM,
        Role.DEVELOPER,
        completeness_error,
        details={"methods": ["integrated_gradients"]},
        # The planted additive model's explanations agree and add up: stable.
        clean=("clean", "tabular"),
        skipped=("text", TEXT_MODEL),
    ),
    Row(
        "text.counterfactual_substitution",
        "text",
        ("gender",),
        "counterfactual_score_gap",
        Severity.CRITICAL,
        Role.DEVELOPER,
        woman_man_gap,
        tolerance=1e-5,
        details={"terms": ["woman", "man"], "disfavoured": "woman"},
        clean=("text_clean",),
        skipped=("clean", NOT_TEXT),
    ),
    Row(
        "text.template_probes",
        "text",
        ("gender",),
        "template_score_gap",
        Severity.HIGH,
        Role.DEVELOPER,
        woman_template_gap,
        tolerance=1e-5,
        details={"terms": ["woman"], "in_vocabulary": True},
        groups=(("female",),),
        clean=("text_clean",),
        skipped=("clean", NOT_TEXT),
    ),
    Row(
        "text.subgroup_auc",
        "text",
        ("gender",),
        "bnsp_auc",
        Severity.MEDIUM,
        Role.DEVELOPER,
        female_bnsp_gap,
        tolerance=1e-5,
        groups=(("female",),),
        clean=("text_clean",),
        skipped=("clean", NOT_TEXT),
    ),
    Row(
        "text.pii_in_text",
        "text",
        ("text",),
        "pii_insertion_score_change",
        Severity.HIGH,
        Role.DEVELOPER,
        email_insertion_change,
        tolerance=1e-5,
        details={"type": "email"},
        clean=("text_clean",),
        skipped=("clean", NOT_TEXT),
    ),
    Row(
        "robustness.stability_gap",
        "fragile",
        ("group",),
        "flip_rate_gap",
        Severity.CRITICAL,
        Role.DEVELOPER,
        flip_rate_gap,
        tolerance=1e-12,
        groups=(("B",), ("A",)),
        clean=("steady",),
        skipped=("decisions", NOT_PERTURBED),
    ),
    Row(
        "robustness.recourse_gap",
        "steep",
        ("group",),
        "recourse_share_gap",
        Severity.CRITICAL,
        Role.DEVELOPER,
        recourse_share_gap,
        tolerance=1e-12,
        groups=(("B",), ("A",)),
        clean=("steady",),
        skipped=("text", TEXT_NOT_PERTURBED),
    ),
    Row(
        "datafit.drift",
        "drifted",
        ("sex",),
        "data_drift_psi_gap",
        Severity.HIGH,
        Role.DEVELOPER,
        income_psi_gap,
        details={"column": "income"},
        groups=(("M",), ("F",)),
        clean=("drift_clean",),
        skipped=("decisions", NO_DRIFT_REFERENCE),
    ),
    Row(
        "datafit.label_noise",
        "drifted",
        ("region",),
        "label_noise_rate",
        Severity.INFO,
        Role.DEVELOPER,
        south_label_noise,
        groups=(("south",),),
        clean=("drift_clean",),
    ),
)
BY_ID = {row.check: row for row in ROWS}


def run_of(result: AuditResult, check: str) -> CheckRun:
    (run,) = [run for run in result.checks if run.id == check]
    return run


def measured(result: AuditResult, check: str) -> list[tuple[Finding, RelatedEvidence]]:
    """Every measurement of ``check``, headline or merged into another check's cause, with
    the finding that carries it."""
    return [
        (finding, row)
        for finding in result.findings
        for row in finding.measurements()
        if row.check == check
    ]


# --- the tests ----------------------------------------------------------------------------------


def test_the_matrix_has_one_row_per_released_check_in_registry_order() -> None:
    assert [row.check for row in ROWS] == list(RELEASED)
    assert [check.id for check in CHECKS] == list(RELEASED)


def test_every_registered_check_declares_the_stages_it_needs() -> None:
    stage_ids = {stage.id for stage in STAGES}
    for check in CHECKS:
        needs = getattr(check, "needs", None)
        assert isinstance(needs, tuple) and needs, check.id
        assert all(isinstance(need, str) for need in needs), (check.id, needs)
        assert set(needs) <= stage_ids, (check.id, needs, stage_ids)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.check)
def test_the_planted_case_is_reported(row: Row, scenarios: Scenarios) -> None:
    scenario = scenarios[row.planted]
    result = scenario.result
    assert not result.incomplete, [run for run in result.checks if run.status.value == "error"]
    assert run_of(result, row.check).status is CheckStatus.OK
    found = [
        (finding, measurement)
        for finding, measurement in measured(result, row.check)
        if measurement.evidence.feature == row.subject
        and measurement.evidence.metric == row.metric
        and all(measurement.evidence.details.get(k) == v for k, v in row.details.items())
        and (row.groups is None or measurement.evidence.groups == row.groups)
    ]
    assert len(found) == 1, [m.evidence for _, m in measured(result, row.check)]
    finding, measurement = found[0]
    evidence = measurement.evidence
    assert evidence.value == pytest.approx(row.expected(scenario), abs=row.tolerance)
    assert measurement.severity is row.severity, measurement.severity_reason
    if finding.check == row.check:
        assert finding.accountable is row.owner
    else:
        # Merged into another check's cause: its owner is consulted on the cause's finding.
        assert row.owner in finding.roles
        assert measurement in finding.related_evidence


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.check)
def test_the_clean_case_reports_nothing_medium_or_worse(row: Row, scenarios: Scenarios) -> None:
    for name in row.clean:
        result = scenarios[name].result
        assert run_of(result, row.check).status is CheckStatus.OK, name
        serious = [
            measurement
            for _, measurement in measured(result, row.check)
            if measurement.severity.rank >= Severity.MEDIUM.rank
        ]
        assert serious == [], name


@pytest.mark.parametrize("row", [row for row in ROWS if row.skipped], ids=lambda row: row.check)
def test_without_its_stage_the_check_is_skipped_with_its_reason(
    row: Row, scenarios: Scenarios
) -> None:
    assert row.skipped is not None
    name, reason = row.skipped
    run = run_of(scenarios[name].result, row.check)
    assert (run.status, run.reason) == (CheckStatus.SKIPPED, reason)
    assert run.findings == 0 and not measured(scenarios[name].result, row.check)
