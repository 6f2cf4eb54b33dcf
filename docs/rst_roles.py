"""A griffe extension for mkdocstrings: the code's docstrings use a few reStructuredText habits
(``:mod:`models.kernels```, ``:func:`...```, a paragraph ending in ``::`` before an indented block),
which Markdown would show literally. This rewrites them as Markdown before rendering: a role becomes
inline code, ``::`` a colon (the indented block after it is already a code block in Markdown).
Listed under ``extensions`` in mkdocs.yml."""
from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|data|obj|exc|const):`~?([^`]+)`")
LITERAL = re.compile(r"(?<=\S)::$", re.MULTILINE)


def markdown(text: str) -> str:
    """``text`` with reStructuredText roles and literal-block markers as Markdown."""
    return LITERAL.sub(":", ROLE.sub(r"`\1`", text))


class RstRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
