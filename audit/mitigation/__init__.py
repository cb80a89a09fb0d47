"""Mitigation what-if (--what-if): the trade-off between accuracy and the disparities that
per-group thresholds (Fairlearn's ThresholdOptimizer) and reweighting would give, cross-fitted
on the audited rows. ``what_if`` computes it, ``stage`` runs it, ``results`` holds the frozen
types the report reads."""
