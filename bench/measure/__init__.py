"""What is timed and under which settings: the timer (``timing``), the execution policy (``policy``,
``subnormals``, ``mxcsr``), the machine recorded (``envinfo``); ``bench speed`` (``speed``) and
``bench scale`` (``scale``)."""
