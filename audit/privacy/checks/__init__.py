"""The privacy checks: PII in the data and model inputs, membership and attribute inference,
unsafe model files."""
