"""Every benchmark is ``slow``: left out of the default ``pytest -q``, run by ``pytest -m ''`` (CI) and by
the benchmark commands of docs/benchmarks.md, which choose their own ``-m``."""
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
