"""Privacy probes: PII in the data and in the model's inputs, membership and attribute
inference, and safe loading of pickle-based model files (docs/privacy.md).

Submodules do one job each: ``pii`` (column classification, rules in knowledge/pii.toml),
``masking`` (examples fit for a report), ``membership``, ``attribute_inference``,
``model_files`` (scan and load-time guard), ``stage`` (the audit stage that runs them) and
``report`` (the result types).
"""
