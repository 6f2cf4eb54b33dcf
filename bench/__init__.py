"""The benchmark harness: command line, cross-validation, trainer, timing, results store."""
