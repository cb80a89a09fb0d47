"""The ``[text]`` section of the policy: how the text audit samples and what it reads.

Defaults are in knowledge/policy_defaults.toml; docs/configuration.md explains each key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TextSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # More identity term files (docs/text-models.md), relative to the policy file's folder;
    # applied after the shipped lists and before any --identity-terms file.
    identity_terms: list[str] = []
    # The class that harms the person a text speaks of; default: the model's adverse_label,
    # else the class that is not the positive label.
    adverse_label: str | None = None
    # Texts that receive inserted personal data (seeded sample).
    pii_rows: int = Field(default=500, ge=0)
    # Texts mentioning identity terms whose tokens are attributed (seeded, per category).
    attribution_rows: int = Field(default=40, ge=0)
    # Counterfactual pairs shown with their attributed sentences (0: show no sentence).
    attribution_examples: int = Field(default=5, ge=0)
    # Integrated Gradients steps (Gauss-Legendre points).
    attribution_steps: int = Field(default=50, ge=2)
