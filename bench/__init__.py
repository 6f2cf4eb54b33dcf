"""The benchmark harness: ``python -m bench`` and what it runs, one subpackage per concern.

``cli`` parses the command line and makes the configuration (``config``, ``options``); ``protocol``
holds the data and the splits, ``execution`` runs the jobs (the trainer, the training step, executors),
``measure`` the timer and the execution policy, ``results`` the run directory (the store, its lock).
"""
