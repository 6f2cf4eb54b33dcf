"""Recurrent units behind one registry: ``models.build(name, input_dim, n_classes, config)``."""
