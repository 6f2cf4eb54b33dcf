"""The Python API page (docs/api.md) is a reference a user can code against.

- Every name in the ``__all__`` of a public module of bench, models, features and reports is on the
  page (a ``::: identifier`` block, a ``members`` list of one, or, for a constant, its full name in
  backticks in the prose), except the modules listed in :data:`EXCLUDED_MODULES`, each with its reason.
- Every object the page renders has a docstring; a function or method taking parameters documents
  each of them under ``Args:``, one that returns a value has ``Returns:`` (or ``Yields:``), a
  dataclass lists its fields under ``Attributes:``.
- No constant is rendered as a dump of its value (``UNITS: dict[str, Unit] = {'rnn': ...}``): every
  block that renders an attribute says ``show_attribute_values: false``, and the built page (mkdocs,
  a few seconds) has no attribute heading with a value.
- The examples of the main entry points run (doctest).

Objects are read statically with griffe, the library mkdocstrings renders them with, so what is
checked is what the page shows.
"""
from __future__ import annotations

import ast
import doctest
import functools
import html
import importlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api.md"
PACKAGES = ("bench", "models", "features", "reports")

# Modules whose __all__ the page need not cover, and why.
EXCLUDED_MODULES = {
    "bench.__main__": "the `python -m bench` entry: no names of its own",
    "bench.measure.mxcsr": "the numba intrinsic behind bench.measure.subnormals.apply, which is the API",
    **{f"models.kernels.{m}": "a back end, reached through models.kernels (its `kernel=` argument)"
       for m in ("cpu", "cuda", "cuda_loop", "fused", "gated_cpu", "gates", "reference", "scan_cpu", "scan_cuda",
                 "scan_logspace", "scan_reference", "selective_cpu")},
}
# Dataclasses whose fields are documented on another page, which their docstring must name.
FIELDS_ELSEWHERE = {"bench.config.RunConfig": "reference/options.md"}


# -- reading the page ------------------------------------------------------------------------------
def blocks(text: str) -> list[tuple[str, dict]]:
    """``(identifier, options)`` of every ``::: identifier`` block, options as the YAML under it."""
    import yaml

    out, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^:::\s+(\S+)\s*$", line)
        if not m:
            continue
        body = []
        for following in lines[i + 1:]:
            if following.strip() and not following.startswith((" ", "\t")):
                break
            body.append(following)
        options = (yaml.safe_load(textwrap.dedent("\n".join(body))) or {}).get("options") or {}
        out.append((m.group(1), options))
    return out


def prose(text: str) -> set[str]:
    """Dotted names in backticks outside the ``:::`` blocks and code fences (constants described in prose)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return set(re.findall(r"`([a-z_]+(?:\.[A-Za-z_]\w*)+)`", text))


@functools.lru_cache(maxsize=None)
def collection():
    """Every package, loaded by griffe as mkdocstrings loads it (Google docstrings, aliases resolved)."""
    import griffe

    loader = griffe.GriffeLoader(docstring_parser=griffe.Parser.google, search_paths=[str(ROOT)])
    for package in PACKAGES:
        loader.load(package)
    loader.resolve_aliases(external=False, implicit=False)
    return loader.modules_collection


def find(path: str):
    """The object at ``path``, an alias followed to its target."""
    obj = collection()[path]
    return obj.final_target if obj.is_alias else obj


def rendered(identifier: str, options: dict) -> list[str]:
    """The identifiers a block renders and that this test checks: its own, and those of its ``members`` list."""
    members = options.get("members")
    return [identifier] + ([f"{identifier}.{m}" for m in members] if isinstance(members, list) else [])


# -- what a docstring must hold --------------------------------------------------------------------
def _returns_value(source: str) -> tuple[bool, bool]:
    """Whether the function in ``source`` returns a value (``return x``, x not None), and whether it yields."""
    tree = ast.parse(textwrap.dedent(source))
    func = next(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    returns = yields = False
    todo = list(func.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue  # a nested function's returns are its own
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            returns = True
        if isinstance(node, ast.YieldFrom) or (isinstance(node, ast.Yield) and node.value is not None):
            yields = True  # a bare ``yield`` (a context manager's) yields nothing to document
        todo.extend(ast.iter_child_nodes(node))
    return returns, yields


def _sections(obj) -> dict:
    import griffe

    if obj.docstring is None:
        return {}
    return {s.kind.value: s for s in obj.docstring.parse(griffe.Parser.google)}


def _documented_names(section) -> set[str]:
    return {name.strip().lstrip("*") for item in section.value for name in item.name.split(",")}


def function_problems(path: str, func) -> list[str]:
    sections = _sections(func)
    problems = []
    params = [p.name for p in func.parameters if p.name not in ("self", "cls")]
    if params:
        if "parameters" not in sections:
            problems.append(f"{path}: takes {', '.join(params)} but has no Args: section")
        else:
            missing = [p for p in params if p not in _documented_names(sections["parameters"])]
            if missing:
                problems.append(f"{path}: Args: does not document {', '.join(missing)}")
    returns, yields = _returns_value(func.source)
    if func.returns is not None and str(func.returns) == "None":
        returns = False
    if (returns or yields) and not ({"returns", "yields"} & set(sections)):
        problems.append(f"{path}: returns a value but has no {'Yields' if yields else 'Returns'}: section")
    for kind in ("returns", "yields"):  # one item each: a second is a continuation line left unindented
        if kind in sections and len(sections[kind].value) > 1:
            problems.append(f"{path}: {kind.title()}: reads as {len(sections[kind].value)} items; indent the "
                            "continuation lines of its one item")
    return problems


def class_problems(path: str, cls) -> list[str]:
    sections = _sections(cls)
    if "dataclass" in cls.labels:
        if path in FIELDS_ELSEWHERE:
            page = FIELDS_ELSEWHERE[path]
            return [] if page in cls.docstring.value else [f"{path}: its docstring must point to {page}"]
        fields = [n for n, m in cls.members.items() if not m.is_alias and m.is_attribute
                  and "instance-attribute" in m.labels and "property" not in m.labels and not n.startswith("_")]
        if "attributes" not in sections:
            return [f"{path}: a dataclass without an Attributes: section for its fields ({', '.join(fields)})"]
        missing = [f for f in fields if f not in _documented_names(sections["attributes"])]
        return [f"{path}: Attributes: does not document {', '.join(missing)}"] if missing else []
    init = cls.members.get("__init__")
    if init is None or init.is_alias:  # nothing of its own to construct with (an exception, a subclass)
        return []
    params = [p.name for p in init.parameters if p.name != "self"]
    if not params:
        return []
    documented = {**_sections(init), **sections}
    if "parameters" not in documented:
        return [f"{path}: its constructor takes {', '.join(params)} but there is no Args: section"]
    missing = [p for p in params if p not in _documented_names(documented["parameters"])]
    return [f"{path}: Args: does not document {', '.join(missing)}"] if missing else []


def object_problems(path: str, obj) -> list[str]:
    """What the docstring of ``obj`` (rendered as ``path``) lacks."""
    if obj.docstring is None or not obj.docstring.value.strip():
        return [f"{path}: no docstring"]
    if obj.is_function:
        return function_problems(path, obj)
    if obj.is_class:
        return class_problems(path, obj)
    return []  # a module, a property, a constant: its docstring says what it is


def docstring_problems(path: str) -> list[str]:
    return object_problems(path, find(path))


def coverage_problems(text: str) -> list[str]:
    """Names in a public module's ``__all__`` that the page neither renders nor names."""
    documented = set()
    for identifier, options in blocks(text):
        for path in rendered(identifier, options):
            documented |= {path, find(path).path}
    named = prose(text)
    problems = []
    for module in public_modules():
        for name in importlib.import_module(module).__all__:
            path = f"{module}.{name}"
            target = find(path)
            if path in documented or target.path in documented:
                continue
            if target.is_attribute and (path in named or target.path in named):
                continue
            problems.append(f"{path} is neither rendered nor named on {API.name}")
    return problems


def public_modules() -> list[str]:
    import pkgutil

    out = []
    for package in PACKAGES:
        out += _walk(package, pkgutil)
    return [m for m in out if m not in EXCLUDED_MODULES and hasattr(importlib.import_module(m), "__all__")]


def _walk(package: str, pkgutil) -> list[str]:
    mod = importlib.import_module(package)
    out = [package]
    for info in pkgutil.iter_modules(mod.__path__):
        name = f"{package}.{info.name}"
        out += _walk(name, pkgutil) if info.ispkg else [name]
    return out


def dump_problems(text: str) -> list[str]:
    """Blocks that render an attribute (the identifier or a listed member) and keep showing its value."""
    problems = []
    for identifier, options in blocks(text):
        paths = rendered(identifier, options)
        obj = find(identifier)
        if options.get("members") is None and (obj.is_class or obj.is_module):  # every member rendered
            paths += [f"{identifier}.{n}" for n, m in obj.members.items() if not n.startswith("_")]
        attributes = [p for p in paths if find(p).is_attribute and "property" not in find(p).labels]
        if attributes and options.get("show_attribute_values") is not False:
            problems.append(f"::: {identifier} renders {', '.join(attributes)} without show_attribute_values: false")
    return problems


# -- the page ---------------------------------------------------------------------------------------
def test_every_public_name_is_on_the_api_page():
    problems = coverage_problems(API.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


def test_every_rendered_object_has_a_complete_docstring():
    text = API.read_text(encoding="utf-8")
    paths = list(dict.fromkeys(p for identifier, options in blocks(text) for p in rendered(identifier, options)))
    assert len(paths) > 150, f"only {len(paths)} objects rendered: is the block parser broken?"
    problems = [p for path in paths for p in docstring_problems(path)]
    assert not problems, "\n".join(problems)


def test_no_constant_is_rendered_as_a_value_dump():
    problems = dump_problems(API.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


def test_the_main_entry_points_have_examples():
    for path in ("models.registry.build", "models.kernels.linear_scan", "bench.execution.run.run", "bench.cli.main",
                 "bench.results.store.ResultsStore", "reports.load.load_run", "bench.config.RunConfig"):
        sections = find(path).docstring.parse(__import__("griffe").Parser.google)
        assert any(s.kind.value == "examples" or (s.kind.value == "admonition" and s.title.startswith("Example"))
                   for s in sections), f"{path}: no Examples: section"


# -- the checks can fail ------------------------------------------------------------------------------
BAD = '''
from dataclasses import dataclass


def quiet(x, y=1):
    return x + y


def half(x, y=1):
    """Half documented.

    Args:
        x: a number.
    """
    return x + y


def gen(n):
    """Counts.

    Args:
        n: how far.
    """
    yield from range(n)


def two(x):
    """Two rows.

    Args:
        x: a number.

    Returns:
        The number, which
        was given.
    """
    return x


@dataclass
class Point:
    """A point.

    Attributes:
        x: across.
    """

    x: float
    y: float


class Box:
    """A box."""

    def __init__(self, side):
        self.side = side
'''


def test_the_checks_can_fail():
    import griffe

    with griffe.temporary_visited_module(BAD, docstring_parser=griffe.Parser.google) as bad:
        found = {name: object_problems(name, bad[name]) for name in ("quiet", "half", "gen", "two", "Point", "Box")}
    assert found["quiet"] == ["quiet: no docstring"]
    assert any("does not document y" in p for p in found["half"]) and any("Returns" in p for p in found["half"])
    assert any("Yields" in p for p in found["gen"])
    assert any("reads as 2 items" in p for p in found["two"])
    assert any("does not document y" in p for p in found["Point"])
    assert any("no Args" in p for p in found["Box"])
    assert coverage_problems("::: models.build\n")  # everything else is missing
    assert dump_problems("::: models.registry.UNITS\n")
    assert not dump_problems("::: models.registry.UNITS\n    options:\n      show_attribute_values: false\n")
    assert attribute_headings('<div class="doc doc-object doc-attribute">\n<h3 id="x.U" class="doc doc-heading">'
                              '<code>x.U</code><span>: dict = {<span>&#39;a&#39;</span>: 1}</span></h3>') == [
        "x.U: dict = {'a': 1}"]


# -- the examples run -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["models.registry.build", "models.kernels.linear_scan", "bench.results.store.ResultsStore",
                                  "reports.load.load_run"])
def test_the_examples_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes, writes here
    module, _, name = path.rpartition(".")
    obj = getattr(importlib.import_module(module), name)
    tests = doctest.DocTestFinder(recurse=False).find(obj, path, globs={})
    assert tests and tests[0].examples, f"{path}: no doctest example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{path}: its example fails (run pytest -s to see the doctest report)"


# -- the built page ----------------------------------------------------------------------------------
def attribute_headings(page: str) -> list[str]:
    """The text of every rendered attribute's heading (name, type and, if shown, its value)."""
    heading = r'<div class="doc doc-object doc-attribute">\s*<h\d [^>]*class="doc doc-heading"[^>]*>(.*?)</h\d>'
    found = re.findall(heading, page, flags=re.DOTALL)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", h))).strip() for h in found]


def test_the_built_api_page_shows_no_value_dump(tmp_path):
    pytest.importorskip("mkdocs")
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    headings = attribute_headings(page)
    assert len(headings) > 20, "few attribute headings found: is the HTML pattern still right?"
    dumps = [h for h in headings if " = " in h]
    assert not dumps, "constants rendered with their values:\n" + "\n".join(d[:150] for d in dumps)
