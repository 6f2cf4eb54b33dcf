"""The documentation's reference pages, generated from the code: ``python -m docs.gen`` rewrites them.

Each page is a function of the code alone (no machine, date or data set), so the committed pages
are compared with a fresh rendering by ``tests/test_docs.py``; a stale page fails that test, and
``python -m docs.gen`` brings every page back in line. Run it after adding an option to
``bench/config.py``, a unit to ``models/registry.py`` or a column to ``bench/results/schema.py``.

- ``reference/options.md``: every ``bench run`` option (:mod:`docs.gen.options`).
- ``reference/commands.md``: the options of the other commands, from their argument parsers.
- ``reference/units.md``: every registered unit, its parameters at the presets' shapes and its
  module's docstring (:mod:`docs.gen.units`).
- ``reference/tables.md``: the columns of every table a run writes (:mod:`docs.gen.tables`).
- ``assets/example/*.png``: copies of the example report's figures (``reports/example/``), which the
  site shows (MkDocs serves only what lies under ``docs/``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

__all__ = ["DOCS", "pages", "render", "stale", "write"]

DOCS = Path(__file__).resolve().parent.parent  # docs/
ROOT = DOCS.parent
COPIES = {f"assets/example/{name}": f"reports/example/{name}" for name in ("figure5.png", "figure4.png", "confusion.png")}


def pages() -> dict[str, Callable[[], str]]:
    """Page path (relative to ``docs/``) -> the function rendering it."""
    from . import options, tables, units

    return {"reference/options.md": options.run_options_page, "reference/commands.md": options.commands_page,
            "reference/units.md": units.units_page, "reference/tables.md": tables.tables_page}


def render() -> dict[str, str | bytes]:
    """Every generated file's content (a page's text, a copied figure's bytes), freshly rendered."""
    out: dict[str, str | bytes] = {path: fn() for path, fn in pages().items()}
    out.update({path: (ROOT / source).read_bytes() for path, source in COPIES.items()})
    return out


def _current(path: str, content: str | bytes) -> bool:
    file = DOCS / path
    if not file.exists():
        return False
    return (file.read_bytes() if isinstance(content, bytes) else file.read_text(encoding="utf-8")) == content


def stale() -> list[str]:
    """The generated pages whose committed text differs from a fresh rendering (or that are missing)."""
    return [path for path, content in render().items() if not _current(path, content)]


def write() -> list[str]:
    """Rewrite the pages that changed; returns their paths."""
    changed = []
    for path, content in render().items():
        if not _current(path, content):
            file = DOCS / path
            file.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                file.write_bytes(content)
            else:
                file.write_text(content, encoding="utf-8")
            changed.append(path)
    return changed
