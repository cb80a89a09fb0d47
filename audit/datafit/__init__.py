"""Is the data fit for the model: drift from the training data and label-noise suspicion, per
group (docs/data-fit.md)."""
