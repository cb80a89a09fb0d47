"""The text checks: identity-term counterfactuals, templated probes, subgroup AUCs and PII in
text."""
