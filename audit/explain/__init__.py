"""Explanations: why the model decides as it does, in the data's own columns.

One algorithm per module: ``sampling`` (which rows are explained), ``score`` (the quantity
explained: the positive-class probability), ``columns`` (encoded inputs summed back to table
columns), ``shap_attributions`` and ``captum_attributions`` (the attribution methods),
``importance`` (global and per-group importance with intervals), ``agreement`` (rank
agreement between methods), ``association`` (how strongly each input column tracks a
sensitive attribute), ``flip`` (the counterfactual flip test) and ``stage`` (the audit
stage that runs them). ``results`` holds the frozen types the report reads.

This package imports neither shap nor captum at import time: they are an optional extra
(``pip install 'rai-audit[explain]'``) loaded only when the stage runs.
"""
