"""The audit policy: thresholds, gate settings and sampling, from defaults, file and flags."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from audit.core.accountability import AccountabilityOverride, mapped_checks
from audit.core.check_knowledge import CheckInfo
from audit.core.errors import ConfigError
from audit.core.findings import Severity, beyond
from audit.datafit.settings import DataFitSettings
from audit.regulatory.settings import LL144Settings
from audit.robustness.settings import RobustnessSettings
from audit.text.settings import TextSettings

CONFIG_FILE = "rai-audit.toml"


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None
    critical: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Threshold:
        if (self.min is None) == (self.max is None):
            raise ValueError("set exactly one of 'min' or 'max'")
        return self

    @model_validator(mode="after")
    def _critical_past_limit(self) -> Threshold:
        if self.critical is None:
            return self
        past = self.critical <= self.limit if self.bound == "min" else self.critical >= self.limit
        if not past:
            raise ValueError(
                f"'critical' ({self.critical}) must lie beyond the {self.bound} ({self.limit})"
            )
        return self

    @property
    def bound(self) -> Literal["min", "max"]:
        return "min" if self.min is not None else "max"

    @property
    def limit(self) -> float:
        value = self.min if self.min is not None else self.max
        assert value is not None  # guaranteed by _one_side, not an input check
        return value

    def violated_by(self, value: float) -> bool:
        return beyond(value, self.limit, self.bound)

    def critical_by(self, value: float) -> bool:
        return self.critical is not None and beyond(value, self.critical, self.bound)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_group_size: int
    max_intersection: int
    max_categories: int
    max_groups: int
    quantile_bands: int
    reference: Literal["largest"]
    reference_groups: dict[str, str]
    compare: Literal["between_groups", "reference"]
    fail_on: Severity
    require_significance: bool
    # A selection-rate ratio below its limit fails the gate only if Fisher's exact test
    # gives p < four_fifths_alpha (audit.fairness.significance).
    four_fifths_requires_p_value: bool
    four_fifths_alpha: float
    headline_order: tuple[str, ...]
    n_boot: int
    max_n_boot: int
    confidence_level: float
    seed: int
    exact_auc_rows: int
    thresholds: dict[str, Threshold]
    accountability: dict[str, AccountabilityOverride]
    text: TextSettings = TextSettings()  # the text audit's [text] section (docs/text-models.md)
    # The Local Law 144 pack's [ll144] section (docs/regulators.md). Left out of the report's
    # run.config: the pack records its metadata itself, and other audits' reports stay as
    # they were.
    ll144: LL144Settings = Field(default=LL144Settings(), exclude=True)
    # Perturbations and recourse, the [robustness] section (docs/robustness.md).
    robustness: RobustnessSettings = RobustnessSettings()
    # Drift binning and confident scores (docs/data-fit.md).
    data_fit: DataFitSettings = DataFitSettings()

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> Policy:
        # Plugins' checks and metrics (load_policy's ``checks``) are known too.
        plugins: Sequence[CheckInfo] = (info.context or {}).get("checks", ())
        checks = mapped_checks() | {plugin.id for plugin in plugins}
        metrics = set(_defaults()["thresholds"]).union(*(plugin.thresholds for plugin in plugins))
        if self.min_group_size < 1:
            raise ValueError(f"min_group_size must be at least 1, got {self.min_group_size}")
        if self.max_intersection < 1:
            raise ValueError(f"max_intersection must be at least 1, got {self.max_intersection}")
        if self.n_boot < 0:
            raise ValueError(f"n_boot must be 0 (no intervals) or more, got {self.n_boot}")
        if self.n_boot > self.max_n_boot:
            raise ValueError(
                f"n_boot = {self.n_boot} is more than max_n_boot = {self.max_n_boot}; intervals "
                "settle long before, so lower it, or raise max_n_boot in the policy file if "
                "you need that many"
            )
        if not 0.5 <= self.confidence_level < 1:
            raise ValueError(f"confidence_level must lie in [0.5, 1), got {self.confidence_level}")
        if not 0 < self.four_fifths_alpha < 1:
            raise ValueError(f"four_fifths_alpha must lie in (0, 1), got {self.four_fifths_alpha}")
        if self.max_groups < 2:
            raise ValueError(f"max_groups must be at least 2, got {self.max_groups}")
        if self.exact_auc_rows < 0:
            raise ValueError(f"exact_auc_rows must be 0 or more, got {self.exact_auc_rows}")
        if self.quantile_bands < 2:
            raise ValueError(f"quantile_bands must be at least 2, got {self.quantile_bands}")
        unmapped = sorted(set(self.accountability) - checks)
        if unmapped:
            known = ", ".join(sorted(checks))
            raise ValueError(
                f"[accountability] names unknown check {unmapped[0]!r}; checks: {known}"
            )
        unordered = sorted(set(self.headline_order) - metrics)
        if unordered:
            known = ", ".join(sorted(metrics))
            raise ValueError(
                f"headline_order names unknown metric {unordered[0]!r}; known metrics: {known}"
            )
        unknown = sorted(set(self.thresholds) - metrics)
        if unknown:
            known = ", ".join(sorted(metrics))
            raise ValueError(f"unknown threshold metric {unknown[0]!r}; known metrics: {known}")
        return self

    @property
    def p_value_alpha(self) -> float | None:
        """The level a selection-rate ratio's p-value must fall below to fail the gate, None
        when the policy does not require it."""
        return self.four_fifths_alpha if self.four_fifths_requires_p_value else None

    def threshold(self, metric: str) -> Threshold:
        return self.thresholds[metric]


def _defaults() -> dict[str, Any]:
    text = resources.files("audit").joinpath("knowledge/policy_defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key == "thresholds" and isinstance(value, dict):
            merged[key] = {
                metric: _merge_threshold(base.get(key, {}).get(metric), bound)
                for metric, bound in {**base.get(key, {}), **value}.items()
            }
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def _merge_threshold(base: Any, override: Any) -> Any:
    """A new limit on the same side keeps the inherited critical level while that level is
    still past the limit; a limit on the other side replaces the whole entry."""
    if not isinstance(base, dict) or not isinstance(override, dict) or base is override:
        return override if override is not None else base
    if "critical" in override or not set(override) & set(base) & {"min", "max"}:
        return override
    merged = {**base, **override}
    critical = merged.get("critical")
    if critical is not None:
        inside = critical > merged["min"] if "min" in merged else critical < merged["max"]
        if inside:
            del merged["critical"]
    return merged


def find_config_file(start: Path) -> Path | None:
    """rai-audit.toml in ``start``, else a pyproject.toml there with [tool.rai-audit]."""
    candidate = start / CONFIG_FILE
    if candidate.is_file():
        return candidate
    pyproject = start / "pyproject.toml"
    if pyproject.is_file() and "rai-audit" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found; check the --config path") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file's syntax") from exc


def read_config_file(path: Path) -> dict[str, Any]:
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        section = data.get("tool", {}).get("rai-audit")
        if section is None:
            raise ConfigError(f"{path}: has no [tool.rai-audit] section; add one or drop --config")
        return dict(section)
    return data


def load_policy(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    checks: Sequence[CheckInfo] = (),
) -> Policy:
    """Defaults, then the config file, then ``overrides`` (the CLI's flags). ``checks`` are
    the knowledge of the audit's checks: a plugin's default thresholds join the defaults, and
    its id may be named under [accountability]."""
    source = str(config_file) if config_file else "policy"
    merged = _defaults()
    for check in checks:
        taken = sorted(set(check.thresholds) & set(merged["thresholds"]))
        if taken:
            raise ConfigError(
                f"check {check.id!r} declares a default threshold for {taken[0]!r}, which is "
                "already a rai-audit metric; give the plugin's metric a name of its own"
            )
        merged["thresholds"] = {**merged["thresholds"], **check.thresholds}
    if config_file is not None:
        merged = _merge(merged, read_config_file(config_file))
    if overrides:
        merged = _merge(merged, overrides)
    try:
        return Policy.model_validate(merged, context={"checks": tuple(checks)})
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        parent = error["loc"][:-1]
        known = _known_keys(parent)
        return f"unknown key {location!r}; known keys here: {', '.join(known)}"
    message = error["msg"].removeprefix("Value error, ")
    if not location:
        # A whole-policy check: its message already names the key and value.
        return f"{message}; see docs/configuration.md"
    return f"key {location!r}: {message} (got {error.get('input')!r}); see docs/configuration.md"


def _known_keys(parent: tuple[Any, ...]) -> list[str]:
    if not parent:
        return sorted(Policy.model_fields)
    if parent[0] == "thresholds":
        return sorted(Threshold.model_fields)
    if parent[0] == "text":
        return sorted(TextSettings.model_fields)
    if parent[0] == "ll144":
        return sorted(LL144Settings.model_fields)
    if parent[0] == "robustness":
        return sorted(RobustnessSettings.model_fields)
    if parent[0] == "data_fit":
        return sorted(DataFitSettings.model_fields)
    if parent[0] == "accountability":
        return sorted(AccountabilityOverride.model_fields)
    return sorted(Policy.model_fields)
