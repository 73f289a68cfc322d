"""Tests of one trial: records, splits, data, model, metrics, settings, outbox, training."""
