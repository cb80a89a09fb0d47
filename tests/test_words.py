"""Identifiers in words (audit.core.check_knowledge.in_words): the same name for a metric in
a finding's title, the HTML and Markdown reports and the terminal, abbreviations in capitals."""

from __future__ import annotations

import re

import pytest

from audit.core.accountability import AccountabilityTable
from audit.core.check_knowledge import in_words
from audit.core.knowledge import audit_knowledge
from audit.core.policy import load_policy
from audit.core.registry import CHECKS


@pytest.mark.parametrize(
    ("identifier", "words"),
    [
        ("demographic_parity_ratio", "demographic parity ratio"),
        ("roc_auc", "ROC AUC"),
        ("bpsn_auc", "BPSN AUC"),
        ("data_drift_psi_gap", "data drift PSI gap"),
        ("pii_share_of_texts", "PII share of texts"),
        ("cramers_v", "Cramér's V"),
        ("membership_tpr_at_1pct_fpr", "membership TPR at 1% FPR"),
        ("accuracy", "accuracy"),
        ("a_plugin's_metric", "a plugin's metric"),
    ],
)
def test_an_identifier_reads_as_its_words(identifier: str, words: str) -> None:
    assert in_words(identifier) == words


def test_every_known_metric_reads_without_an_abbreviation_in_lower_case() -> None:
    """Every metric of the shipped checks and the fairness spec table, as a reader sees it:
    no word is an abbreviation left in lower case or an id's shorthand."""
    policy = load_policy()
    metrics = audit_knowledge(CHECKS, AccountabilityTable(dict(policy.accountability))).metrics
    assert len(metrics) > 40
    lower = {"auc", "roc", "psi", "tpr", "fpr", "fnr", "pii", "bpsn", "bnsp", "ks", "1pct"}
    for metric in metrics:
        words = in_words(metric)
        assert "_" not in words and not lower & set(re.split(r"[ ()]", words)), (metric, words)
        assert "cramers" not in words
