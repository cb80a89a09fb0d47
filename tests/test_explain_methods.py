"""The explanation algorithms against values computed independently: analytic attributions of a
linear model, sampling allocation, association measures, importance and agreement."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import chi2_contingency, spearmanr
from torch import nn

from audit.core.policy import Threshold
from audit.data.slices import Slice
from audit.data.table import ColumnCodes, SensitiveColumn
from audit.explain.agreement import rank_agreement
from audit.explain.association import associations, correlation_ratio, cramers_v
from audit.explain.attributions import completeness
from audit.explain.captum_attributions import gradient_shap, integrated_gradients, torch_forward
from audit.explain.columns import column_map
from audit.explain.copies import encoded_copies
from audit.explain.flip import EncodingMismatch, flip_attribute, representative_values
from audit.explain.importance import (
    copy_importance,
    global_importance,
    group_importance,
    largest_shifts,
)
from audit.explain.results import ColumnImportance, EncodedCopy, MethodResult
from audit.explain.sampling import STREAM_BOOTSTRAP, allocate, generator, stratified_sample
from audit.explain.score import PositiveScore, model_function
from audit.explain.shap_attributions import shap_attributions
from audit.models.base import LoadedModel
from audit.models.torch_models import TorchAdapter

WEIGHTS = np.array([1.5, -2.0, 0.5, 0.0])
BIAS = 0.25


def linear_model() -> LoadedModel:
    """score = WEIGHTS . x + BIAS, read as a probability, so attributions are linear in x."""
    layer = nn.Linear(len(WEIGHTS), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(WEIGHTS[None, :], dtype=torch.float32))
        layer.bias.fill_(BIAS)
    return LoadedModel(
        adapter=TorchAdapter(layer.eval(), "cpu"),
        kind="torch-pickle",
        trusted=False,
        input_width=len(WEIGHTS),
        class_labels=None,
        metadata_text=None,
    )


def standardized(rows: int, seed: int) -> np.ndarray:
    """Independent features, each standardized to mean 0 and unit variance."""
    values = np.random.default_rng(seed).normal(size=(rows, len(WEIGHTS)))
    return ((values - values.mean(axis=0)) / values.std(axis=0)).astype(np.float32)


PROBABILITY = PositiveScore("probabilities", None)


def test_linear_model_attributions_match_weight_times_distance_to_baseline() -> None:
    model = linear_model()
    inputs, background = standardized(40, 0), standardized(30, 1)
    columns = column_map(["a", "b", "c", "d"])
    function = model_function(model, PROBABILITY, 1024)
    forward = torch_forward(model, PROBABILITY, len(WEIGHTS))
    assert not isinstance(forward, str)
    # SHAP under an independent masker and IG from the background's mean row both give
    # w * (x - mean(background)) for a linear model.
    expected = WEIGHTS * (inputs.astype(np.float64) - background.astype(np.float64).mean(axis=0))
    shap_values = shap_attributions(function, inputs, background, columns, seed=0)
    ig_values = integrated_gradients(forward, inputs, background, columns, batch_size=1024)
    np.testing.assert_allclose(shap_values.values, expected, atol=2e-5)
    np.testing.assert_allclose(ig_values.values, expected, atol=2e-5)
    # A column the model ignores gets nothing but float32 rounding: masking it still runs the
    # matrix product, whose accumulation order depends on the CPU's kernels.
    np.testing.assert_allclose(shap_values.values[:, 3], 0, atol=1e-8)
    np.testing.assert_allclose(ig_values.values[:, 3], 0, atol=1e-8)
    for attributions in (shap_values, ig_values):
        measured = completeness(attributions)
        assert measured.mean_abs_error < 1e-5
        assert measured.relative_error is not None and measured.relative_error < 1e-5


def test_captum_methods_equal_captums_own_gradients_on_a_nonlinear_model() -> None:
    """The summed gradient seed changes Captum's speed, not its values."""
    captum_attr = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2)).eval()
    model = LoadedModel(
        adapter=TorchAdapter(network, "cpu"),
        kind="torch-pickle",
        trusted=False,
        input_width=4,
        class_labels=None,
        metadata_text=None,
    )
    score = PositiveScore("logits", 1)
    forward = torch_forward(model, score, 4)
    assert not isinstance(forward, str)
    inputs, background = standardized(30, 2), standardized(20, 3)
    columns = column_map(list("abcd"))
    ours = integrated_gradients(forward, inputs, background, columns, batch_size=4096)
    theirs = captum_attr.IntegratedGradients(forward).attribute(
        forward.tensor(inputs),
        baselines=forward.tensor(background.mean(axis=0, keepdims=True)),
        n_steps=50,
        method="gausslegendre",
    )
    np.testing.assert_allclose(ours.values, theirs.detach().double().numpy(), rtol=0, atol=1e-7)
    ours_gs = gradient_shap(forward, inputs, background, columns, 4096, seed=5)
    torch.manual_seed(5)
    np.random.seed(5)
    theirs_gs = captum_attr.GradientShap(forward).attribute(
        forward.tensor(inputs), baselines=forward.tensor(background), n_samples=50, stdevs=0.0
    )
    np.testing.assert_allclose(
        ours_gs.values, theirs_gs.detach().double().numpy(), rtol=0, atol=1e-7
    )
    assert np.abs(ours_gs.values).max() > 1e-3  # the model is not constant


def test_gradient_shap_is_exact_for_a_linear_model_with_one_baseline() -> None:
    model = linear_model()
    inputs = standardized(25, 2)
    baseline = np.array([[0.3, -0.7, 1.1, 0.2]], dtype=np.float32)
    columns = column_map(["a", "b", "c", "d"])
    forward = torch_forward(model, PROBABILITY, len(WEIGHTS))
    assert not isinstance(forward, str)
    values = gradient_shap(forward, inputs, np.repeat(baseline, 5, axis=0), columns, 1024, seed=3)
    expected = WEIGHTS * (inputs.astype(np.float64) - baseline.astype(np.float64))
    np.testing.assert_allclose(values.values, expected, atol=2e-5)


def test_gradient_shap_with_a_varied_background_is_right_in_expectation() -> None:
    """Each row's attribution is w * (x - mean of the baselines drawn for it); its error from
    w * (x - mean(background)) has standard deviation |w| * sd(background) / sqrt(samples)."""
    model = linear_model()
    inputs, background = standardized(200, 4), standardized(50, 5)
    forward = torch_forward(model, PROBABILITY, len(WEIGHTS))
    assert not isinstance(forward, str)
    values = gradient_shap(forward, inputs, background, column_map(list("abcd")), 4096, seed=0)
    expected = WEIGHTS * (inputs.astype(np.float64) - background.astype(np.float64).mean(axis=0))
    spread = np.abs(WEIGHTS) * background.std(axis=0) / np.sqrt(values.settings["n_samples"])
    error = values.values - expected
    assert np.all(np.abs(error) <= 5 * spread + 1e-6)
    # Averaged over rows the errors cancel: the mean is within 5 standard errors of zero.
    assert np.all(np.abs(error.mean(axis=0)) <= 5 * spread / np.sqrt(len(inputs)) + 1e-6)


def test_one_hot_blocks_are_summed_to_their_column() -> None:
    columns = column_map(["age", "sex", "sex", "race", "race", "race"])
    assert columns.columns == ("age", "sex", "race")
    assert list(columns.inputs_per_column()) == [1, 2, 3]
    attributions = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.5, -1.0, 1.0, 0.0, 0.0, -2.0]])
    np.testing.assert_allclose(columns.to_columns(attributions), [[1, 5, 15], [0.5, 0, -2]])


def test_shap_plays_whole_columns_so_a_one_hot_block_is_never_mixed() -> None:
    """The model sees only valid one-hot rows: a mixed block would score 10."""
    inputs = np.array([[1, 0, 0.5], [0, 1, -0.5]], dtype=np.float32)
    background = np.array([[1, 0, 0.0], [0, 1, 1.0]], dtype=np.float32)
    seen: list[np.ndarray] = []

    def function(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.copy())
        both_or_neither = batch[:, 0] == batch[:, 1]
        return np.where(both_or_neither, 10.0, batch[:, 0] * 2.0 + batch[:, 2])

    values = shap_attributions(function, inputs, background, column_map(["s", "s", "x"]), seed=0)
    assert not any((batch[:, 0] == batch[:, 1]).any() for batch in seen)
    # Additive game over columns: phi_s = 2 * (s - mean(background s)), phi_x likewise.
    np.testing.assert_allclose(values.values, [[1.0, 0.0], [-1.0, -1.0]], atol=1e-12)


def test_allocation_equalizes_and_keeps_every_group() -> None:
    np.testing.assert_array_equal(allocate(np.array([1000, 40, 5]), 100), [55, 40, 5])
    np.testing.assert_array_equal(allocate(np.array([10, 20]), 100), [10, 20])
    # Fewer rows than groups: one row each all the same.
    np.testing.assert_array_equal(allocate(np.array([7, 3, 9]), 2), [1, 1, 1])
    # The rounding remainder goes to the largest cells.
    np.testing.assert_array_equal(allocate(np.array([50, 50, 50]), 100), [34, 33, 33])


def test_stratified_sample_weights_restore_the_data_mix_and_follow_the_seed() -> None:
    rng = np.random.default_rng(0)
    cells = rng.choice(3, size=5000, p=[0.9, 0.09, 0.01])
    sample = stratified_sample(cells, 3, 300, 50, seed=7)
    counts = np.bincount(cells[sample.rows], minlength=3)
    sizes = np.bincount(cells, minlength=3)
    # The small cell is taken whole; the rest is split evenly, the odd row to the largest.
    assert counts.sum() == 300 and counts[2] == sizes[2] == 51
    assert (counts[0], counts[1]) == (125, 124)
    # Each row stands for its cell's size over its cell's sample: weights sum to the data.
    assert sample.weights.sum() == pytest.approx(5000)
    for cell in range(3):
        assert sample.weights[cells[sample.rows] == cell].sum() == pytest.approx(sizes[cell])
    assert len(np.unique(sample.rows)) == 300 and len(sample.background) == 50
    again = stratified_sample(cells, 3, 300, 50, seed=7)
    other = stratified_sample(cells, 3, 300, 50, seed=8)
    np.testing.assert_array_equal(sample.rows, again.rows)
    np.testing.assert_array_equal(sample.background, again.background)
    assert not np.array_equal(sample.rows, other.rows)


def test_cramers_v_matches_the_bias_corrected_formula() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, size=2000)
    x = np.where(rng.random(2000) < 0.6, y, rng.integers(0, 4, size=2000))
    table = pd.crosstab(x, y).to_numpy()
    chi2 = chi2_contingency(table, correction=False)[0]
    n, (r, k) = table.sum(), table.shape
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    rc, kc = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    assert cramers_v(x, y) == pytest.approx(np.sqrt(phi2 / min(rc - 1, kc - 1)), rel=1e-12)
    assert cramers_v(y, y) == pytest.approx(1.0)
    # Independent codings: the correction takes the chance association to about zero.
    noise = rng.integers(0, 5, size=2000)
    value = cramers_v(noise, y)
    assert value is not None and value < 0.05
    assert cramers_v(np.zeros(50), y[:50]) is None


def test_correlation_ratio_is_the_share_of_spread_between_groups() -> None:
    rng = np.random.default_rng(2)
    groups = rng.integers(0, 3, size=3000)
    values = groups * 1.0 + rng.normal(size=3000)
    frame = pd.DataFrame({"v": values, "g": groups})
    within = frame.groupby("g")["v"].transform(lambda s: s - s.mean())
    eta = np.sqrt(1 - (within**2).sum() / ((values - values.mean()) ** 2).sum())
    assert correlation_ratio(values, groups) == pytest.approx(eta, rel=1e-10)
    assert correlation_ratio(np.ones(10), groups[:10]) is None


def test_associations_do_not_depend_on_the_thread_count() -> None:
    rng = np.random.default_rng(4)
    sex = rng.integers(0, 2, 20_000)
    frame = pd.DataFrame(
        {
            "income": rng.normal(size=20_000) + sex,  # numeric, tracks sex, past MI_ROWS
            "job": np.where(rng.random(20_000) < 0.8, sex, rng.integers(0, 3, 20_000)).astype(str),
            "noise": rng.normal(size=20_000),
        }
    )
    attribute = SensitiveColumn("sex", sex, ("F", "M"), None)
    measured = [
        associations(frame, ["income", "job", "noise"], [1, 3, 1], [attribute], 9, threads)
        for threads in (1, 3)
    ]
    assert measured[0] == measured[1]
    by_column = {found.column: found for found in measured[0]}
    assert by_column["income"].value == pytest.approx(
        correlation_ratio(frame["income"].to_numpy(), sex)
    )
    assert by_column["job"].measure == "cramers_v" and by_column["job"].value > 0.5
    assert by_column["noise"].value < 0.05 and by_column["income"].mutual_information > 0.05


def test_a_numeric_columns_measures_leave_out_its_missing_values_for_every_attribute() -> None:
    rng = np.random.default_rng(8)
    sex, region = rng.integers(0, 2, 9000), np.zeros(9000, dtype=np.int64)
    income = rng.normal(size=9000) + sex
    income[rng.random(9000) < 0.1] = np.nan
    finite = np.isfinite(income)
    attributes = [
        SensitiveColumn("sex", sex, ("F", "M"), None),
        SensitiveColumn("region", region, ("north",), None),  # one group: nothing to measure
    ]
    by_sex, by_region = associations(
        pd.DataFrame({"income": income}), ["income"], [1], attributes, 2
    )
    assert by_sex.n == by_region.n == int(finite.sum())
    assert by_sex.value == correlation_ratio(income[finite], sex[finite])
    assert by_sex.mutual_information is not None and by_sex.mutual_information > 0.05
    assert (by_region.value, by_region.mutual_information) == (None, None)
    assert by_region.undefined == "the column or the attribute takes a single value"


def test_global_importance_is_the_weighted_mean_absolute_attribution() -> None:
    values = np.array([[1.0, -3.0], [-2.0, 1.0], [4.0, 0.0]])
    weights = np.array([1.0, 1.0, 2.0])
    result = global_importance(values, weights, ["a", "b"], np.array([1, 2]), 200, 0.95, 0)
    expected = (np.array([1.0, 2.0, 8.0]).sum() / 4, np.array([3.0, 1.0, 0.0]).sum() / 4)
    assert [item.value for item in result] == pytest.approx(expected)
    assert [item.share for item in result] == pytest.approx(np.array(expected) / sum(expected))
    assert [item.inputs for item in result] == [1, 2]
    for item in result:
        assert item.ci is not None and item.ci[0] <= item.value <= item.ci[1]
        assert item.share_ci is not None and 0 <= item.share_ci[0] <= item.share_ci[1] <= 1
    assert all(
        item.ci is None
        for item in global_importance(values, weights, ["a", "b"], np.array([1, 1]), 0, 0.95, 0)
    )


def test_importance_intervals_are_percentiles_of_poisson_resampled_rows() -> None:
    """Each method's interval, from its own call or the draw it shares with the others,
    equals the percentile interval of rows reweighted by seeded Poisson(1) counts."""
    rng = np.random.default_rng(8)
    weights = rng.uniform(1, 3, size=60)
    counts = generator(11, STREAM_BOOTSTRAP).poisson(1.0, size=(300, 60)) * weights
    for values in (rng.normal(size=(60, 2)), rng.normal(size=(60, 2))):
        result = global_importance(values, weights, ["a", "b"], np.ones(2), 300, 0.9, 11)
        replicates = (counts @ np.abs(values)) / counts.sum(axis=1, keepdims=True)
        low, high = np.percentile(replicates, [5, 95], axis=0)
        assert [item.ci for item in result] == [
            (pytest.approx(low[0], abs=1e-15), pytest.approx(high[0], abs=1e-15)),
            (pytest.approx(low[1], abs=1e-15), pytest.approx(high[1], abs=1e-15)),
        ]


def test_a_copys_share_is_its_columns_summed_with_their_replicates() -> None:
    rng = np.random.default_rng(6)
    values = rng.normal(size=(80, 3))
    weights = rng.uniform(1, 3, size=80)
    columns = ["a", "b", "c"]
    single = global_importance(values, weights, columns, np.ones(3), 200, 0.9, 4)
    pair = EncodedCopy("sex", ("a", "c"), "cramers_v", 1.0, 1.0, {}, 80)
    alone = EncodedCopy("sex", ("b",), "correlation_ratio", 1.0, 1.0, {}, 80)
    summed, one = copy_importance(values, weights, columns, [pair, alone], 200, 0.9, 4)
    assert summed.share == pytest.approx(single[0].share + single[2].share)
    assert summed.value == pytest.approx(single[0].value + single[2].value)
    assert summed.share_ci is not None and summed.share_ci[0] < summed.share < summed.share_ci[1]
    # One column: exactly the column's own share and interval, from the same replicates.
    assert (one.share, one.share_ci) == (single[1].share, single[1].share_ci)
    assert copy_importance(values, weights, columns, [pair], 0, 0.9, 4)[0].share_ci is None


def _race_table(rows: int = 6000) -> tuple[pd.DataFrame, SensitiveColumn, np.ndarray]:
    """race (a, b, c) and a finer origin, one-hot as o0..o5 (o0, o1 are a; o2, o3 b; o4, o5
    c); a noisy integer code of race; a strong proxy flag; a weaker numeric proxy."""
    rng = np.random.default_rng(5)
    origin = rng.integers(0, 6, rows)
    race = origin // 2
    frame = pd.DataFrame({f"o{k}": (origin == k).astype(int) for k in range(6)})
    frame["flag"] = np.where(rng.random(rows) < 0.85, race == 0, rng.random(rows) < 0.5)
    frame["flag"] = frame["flag"].astype(int)
    frame["race_code"] = np.where(rng.random(rows) < 0.01, rng.integers(0, 3, rows), race) + 10
    frame["weak"] = race + rng.normal(size=rows) * 1.2
    return frame, SensitiveColumn("race", race, ("a", "b", "c"), None), origin


def _copies(frame: pd.DataFrame, attribute: SensitiveColumn, limit: float = 0.95) -> list[Any]:
    columns = list(frame.columns)
    measured = associations(frame, columns, [1] * len(columns), [attribute], 0)
    found = encoded_copies(
        frame, columns, measured, [attribute], Threshold(max=limit), Threshold(max=0.3)
    )
    return [item.copy for item in found]


def test_encoded_copies_are_codes_and_whole_one_hot_blocks_and_never_proxies() -> None:
    frame, race, origin = _race_table()
    code, block = _copies(frame, race)
    # 1% of race_code is noise: a near copy by its correlation ratio, each group's modal code.
    expected_eta = correlation_ratio(frame["race_code"].to_numpy(np.float64), race.codes)
    assert (code.columns, code.measure) == (("race_code",), "correlation_ratio")
    assert code.value == pytest.approx(expected_eta) and 0.95 < code.value < 1
    assert code.codes == {"a": ("10",), "b": ("11",), "c": ("12",)}
    assert code.group_code_share == pytest.approx(np.mean(frame["race_code"] == race.codes + 10))
    # No origin column is a copy alone (correlation ratio about 0.63), but together they
    # determine race; the strong proxy flag (0.84) is not needed, and o5, not needed either
    # once o0..o4 are known, stays as the rest of the one-hot block.
    assert block.columns == ("o0", "o1", "o2", "o3", "o4", "o5")
    assert block.measure == "cramers_v" and block.value == pytest.approx(
        cramers_v(origin, race.codes)
    )
    assert block.value > 0.999
    modal = pd.Series(origin).groupby(race.codes).agg(lambda s: s.value_counts().iloc[0])
    assert block.group_code_share == pytest.approx(modal.sum() / len(origin))
    for group, code_values in block.codes.items():
        assert code_values.count("1") == 1 and code_values.count("0") == 5, group
    # Dropping the first category leaves a block that still determines race: all of it stays.
    (_, dropped) = _copies(frame.drop(columns=["o0"]), race)
    assert dropped.columns == ("o1", "o2", "o3", "o4", "o5")
    # max = 1 finds none.
    assert _copies(frame, race, limit=1.0) == []


def test_group_importance_and_its_largest_shift() -> None:
    # Two groups, 10 rows each: group 0 relies on column a only, group 1 on b only.
    values = np.vstack([np.tile([1.0, 0.0], (10, 1)), np.tile([0.0, -2.0], (10, 1))])
    cells = np.repeat([0, 1], 10)
    only = Slice(features=("sex",), labels=(("F",), ("M",)), group_of_cell=np.array([0, 1]))
    groups = group_importance(values, np.ones(20), cells, ["a", "b"], [only])
    assert [(g.group, g.n, g.importance) for g in groups] == [
        (("F",), 10, {"a": 1.0, "b": 0.0}),
        (("M",), 10, {"a": 0.0, "b": 2.0}),
    ]
    shifts = largest_shifts(groups, ["a", "b"])
    assert {(s.column, s.groups, s.difference) for s in shifts} == {
        ("a", (("M",), ("F",)), 1.0),
        ("b", (("F",), ("M",)), 1.0),
    }


def _method(name: str, values: list[float]) -> MethodResult:
    importance = tuple(
        ColumnImportance(f"c{index}", value, None, value / sum(values), None, 1)
        for index, value in enumerate(values)
    )
    return MethodResult(name, "ok", global_importance=importance)


def test_rank_agreement_is_spearman_over_columns() -> None:
    a, b = [0.5, 0.1, 0.3, 0.05, 0.2], [0.4, 0.2, 0.1, 0.01, 0.3]
    agreement = rank_agreement(_method("shap", a), _method("integrated_gradients", b))
    assert agreement.spearman == pytest.approx(spearmanr(a, b).statistic)
    assert agreement.methods == ("shap", "integrated_gradients") and agreement.columns == 5
    two = rank_agreement(_method("shap", [1.0, 2.0]), _method("gradient_shap", [2.0, 1.0]))
    assert two.spearman is None and two.undefined is not None


def test_representative_values_take_each_groups_mode_or_median() -> None:
    raw = pd.Series(["b", "a", "a", "b", None, "c", None, None])
    codes = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    # Group 0 ties a/b (first as text: a); group 1 ignores its missing value; group 2 is all
    # missing, so its value is missing too.
    assert representative_values(raw, codes, [0, 1, 2], banded=False) == {0: "a", 1: "c", 2: None}
    # From a frame's shared column codes: the same values.
    shared = ColumnCodes(pd.DataFrame({"raw": raw})).factorized("raw")
    assert representative_values(raw, codes, [0, 1, 2], False, shared) == {0: "a", 1: "c", 2: None}
    ages = pd.Series([20.0, 30.0, 40.0, np.nan, 61.0, 70.0])
    banded = representative_values(ages, np.array([0, 0, 0, 0, 1, 1]), [0, 1], banded=True)
    assert banded == {0: 30.0, 1: 65.5}


def test_flip_refuses_an_encoder_that_does_not_reproduce_the_input() -> None:
    frame = pd.DataFrame({"sex": ["F", "M", "F", "M"], "x": [0.0, 1.0, 2.0, 3.0]})
    attribute = SensitiveColumn("sex", np.array([0, 1, 0, 1]), ("F", "M"), None)
    inputs = frame[["x"]].to_numpy(np.float32)

    def shifted_for_men(rows: pd.DataFrame) -> np.ndarray:
        return (rows["x"] + (rows["sex"] == "M")).to_numpy(np.float32)[:, None]

    with pytest.raises(EncodingMismatch, match="sex=M"):
        flip_attribute(frame, attribute, shifted_for_men, inputs, np.ravel, 0.5, 0, 0.95, 0)
