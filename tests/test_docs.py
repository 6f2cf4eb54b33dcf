"""The documentation agrees with the code: generated reference pages are current, and every
``python -m bench ...`` command line in README.md and docs/ parses with the real argument parser."""
from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # docs.gen lives beside the packages, not in them

from bench.cli import build_parser  # noqa: E402

COMMAND = re.compile(r"python -m bench(?=\s|$)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE = re.compile(r"`(python -m bench(?:\s[^`]*)?)`")


def doc_files() -> list[Path]:
    return [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").rglob("*.md") if "gen" not in p.parts)


def command_lines(text: str) -> list[str]:
    """Every ``python -m bench ...`` in fenced blocks (continuation lines joined) and inline code spans; not
    in a ```text block, which shows a program's output (an error message naming a command)."""
    found, block, output, logical = [], False, False, ""
    for line in text.splitlines():
        if FENCE.match(line):
            block, logical = not block, ""
            output = block and line.strip().strip("`~").strip() == "text"
            continue
        if output:
            continue
        if block:
            logical += line
            if logical.endswith("\\"):
                logical = logical[:-1] + " "
                continue
            if m := COMMAND.search(logical):
                found.append(logical[m.start():])
            logical = ""
        else:
            found += INLINE.findall(line)
    return found


def parse_problem(command: str) -> str | None:
    """None if ``command`` parses with ``bench``'s own parser, else argparse's message."""
    words = [w for w in shlex.split(command, comments=True)[3:] if w not in ("...", "[...]")]
    if not words:  # the program's name in prose ("python -m bench ..."), not a command line
        return None
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            build_parser().parse_args(words)
    except SystemExit as exc:
        if exc.code not in (0, None):  # 0: --help
            return err.getvalue().strip() or f"exit status {exc.code}"
    return None


def test_generated_reference_pages_are_current():
    from docs.gen import stale

    old = stale()
    assert not old, f"stale generated pages {old}: run `python -m docs.gen` and commit the result"


@pytest.fixture
def example_plugin(tmp_path, monkeypatch) -> None:
    """The example plugin (examples/plugin_unit) importable and its entry points found, as if installed:
    the tutorial's commands name its units."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    example = ROOT / "examples" / "plugin_unit"
    project = tomllib.loads((example / "pyproject.toml").read_text())["project"]
    units = project["entry-points"]["rnn_genre_bench.units"]
    info = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text("[rnn_genre_bench.units]\n" + "".join(f"{k} = {v}\n" for k, v in units.items()))
    monkeypatch.syspath_prepend(str(example))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_every_bench_command_in_readme_and_docs_parses(example_plugin):
    commands = [(p.relative_to(ROOT), c) for p in doc_files() for c in command_lines(p.read_text(encoding="utf-8"))]
    assert len(commands) > 30, f"only {len(commands)} command lines found: is the extraction broken?"
    assert any(path.name == "README.md" for path, _ in commands)
    bad = [f"{path}: {cmd!r}: {problem}" for path, cmd in commands if (problem := parse_problem(cmd))]
    assert not bad, "command lines that no longer parse:\n" + "\n".join(bad)


@pytest.mark.parametrize("command", ["python -m bench run --no-such-option 1", "python -m bench run --units nope",
                                     "python -m bench nosuchcommand", "python -m bench run --precision fp8"])
def test_the_command_check_can_fail(command):
    assert parse_problem(command)


def test_command_lines_are_found_in_blocks_continuations_and_inline_code():
    text = ("Run `python -m bench units` first.\n```bash\npython -m bench run --units all \\\n"
            "    --folds 3   # a comment\npip install x\n```\n```text\nerror: ... (see python -m bench run --help)\n```\n")
    assert [" ".join(c.split()) for c in command_lines(text)] == [
        "python -m bench units", "python -m bench run --units all --folds 3 # a comment"]
