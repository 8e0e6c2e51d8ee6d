"""One-off jobs around training: preprocessing audio into a dataset, exporting a model."""
