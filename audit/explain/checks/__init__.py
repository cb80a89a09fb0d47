"""The explanation checks: direct use of a protected attribute, proxies, counterfactual flips
and instability of attributions."""
