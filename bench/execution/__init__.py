"""Running the jobs: ``bench run`` (``run``), its plan and estimate (``plan``, ``probe``), the executors,
one job (``jobs``), the trainer (``trainer``) and one training step (``step``), the baseline, tuning,
kernel warm-up; ``bench units`` (``units``) and ``bench check-unit`` (``checkunit``)."""
