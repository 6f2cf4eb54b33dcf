"""The command-line reference: ``bench run``'s options from :mod:`bench.config` (section, default per
preset, check, help) and every other command's options from its argument parser (:func:`bench.cli.build_parser`)."""
from __future__ import annotations

import argparse
import typing
from dataclasses import fields

from bench.cli import build_parser
from bench.options import parse_units
from bench.config import PRESETS, SECTIONS, RunConfig, flag

from .markdown import GENERATED, code, escape, table

__all__ = ["run_options_page", "commands_page", "subcommands"]


def _subparsers() -> argparse._SubParsersAction:
    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """``bench``'s commands and their parsers, as the command line builds them."""
    return dict(_subparsers().choices)


def summaries() -> dict[str, str]:
    """Each command's one-line help, as ``python -m bench --help`` lists it."""
    return {a.dest: a.help for a in _subparsers()._choices_actions}


def _value(v) -> str:
    if v is None:
        return "unset"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        return ",".join(map(str, v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def _allows_none(f) -> bool:
    return type(None) in typing.get_args(typing.get_type_hints(RunConfig)[f.name])


def allowed(f, action: argparse.Action | None = None) -> str:
    """What the field accepts: its choices, or the check's own message for an invalid value."""
    meta, hint = f.metadata, typing.get_type_hints(RunConfig)[f.name]
    if meta.get("choices"):
        return ", ".join(code(c) for c in meta["choices"])
    if hint is bool:
        return "on or off"
    if action is not None and action.type is parse_units:  # the unit names come from the registry
        import models

        return ("a comma list of registered units (" + ", ".join(code(u) for u in models.available())
                + "), a group the help text names, or a plugin (an installed one by its name, or `module:factory`)")
    check = meta.get("check")
    problem = check(object()) if check else None  # nothing is valid as a bare object: the check says what is
    if not problem:
        kinds = [k for k in typing.get_args(hint) if k is not type(None)] or [hint]
        problem = {str: "any text", int: "any integer", float: "any number"}.get(kinds[0], "any value")
    return escape(problem) + (", or unset" if _allows_none(f) else "")


def _cell(v) -> str:
    if isinstance(v, (tuple, list)):  # a list may wrap after each comma, as a code span would not
        return ",<wbr>".join(code(x) for x in v)
    return "unset" if v is None else code(_value(v))


def _flag_cell(f) -> str:
    name = flag(f.name)
    if typing.get_type_hints(RunConfig)[f.name] is bool:
        return f"{code(name)}<br>{code('--no-' + name[2:])}"
    return code(name)


def _help(action: argparse.Action) -> str:
    # Some Python versions append " (default: %(default)s)" to a BooleanOptionalAction's help: the
    # default has its own column, and the page must not depend on the Python version.
    text = (action.help or "").removesuffix(" (default: %(default)s)")
    return escape(text.replace("%%", "%"))


def _other_options(parser: argparse.ArgumentParser, skip: set[str]) -> list[list[str]]:
    rows = []
    for a in parser._actions:
        if a.help == argparse.SUPPRESS or isinstance(a, argparse._HelpAction) or a.dest in skip:
            continue
        names = "<br>".join(code(o) for o in a.option_strings) if a.option_strings else code(a.metavar or a.dest.upper())
        default = a.default
        if isinstance(a, argparse._StoreTrueAction):
            default = "off"
        elif a.required or not a.option_strings:
            default = "required"
        rows.append([names, escape(_value(default)), _help(a)])
    return rows


def run_options_page() -> str:
    quick, paper = PRESETS["quick"], PRESETS["paper"]
    run = subcommands()["run"]
    actions = {a.dest: a for a in run._actions}
    by_section = {s: [f for f in fields(RunConfig) if f.metadata.get("cli") and f.metadata["section"] == s]
                  for s in SECTIONS}
    out = [GENERATED.format(source="`bench/config.py` and `bench/cli.py`"), "# `bench run` options\n\n",
           "Every option of a run is one field of `RunConfig` in `bench/config.py`: its section, its default, "
           "its check and its help text live there, and the command line, config files and this page are "
           "generated from it. The two presets differ in the columns **quick** (the default) and **paper**. "
           "In a config file (`--config FILE.toml`) an option is the key of the same name in its section, "
           "with `_` for `-` (`--batch-size 16` is `batch_size = 16` under `[training]`). The preset comes "
           "first, then the file, then the flags given on the command line, each overriding the one before. "
           "A value the check refuses stops the command before anything is written, with one line naming "
           "the option and what is allowed.\n\n"]
    for section, fs in by_section.items():
        out.append(f"## {section}\n\nIn a config file: `[{section}]`.\n\n")
        rows = [[_flag_cell(f), _cell(getattr(quick, f.name)), _cell(getattr(paper, f.name)),
                 allowed(f, actions.get(f.name)), escape(f.metadata["help"])] for f in fs]
        out.append(table(["option", "quick", "paper", "allowed", "what it does"], rows) + "\n")
    config_flags = {f.name for f in fields(RunConfig) if f.metadata.get("cli")}
    out.append("## Not part of the configuration\n\nThese choose the preset, the config file, the executor and "
               "where results go; they do not enter the run's configuration or its hash.\n\n")
    out.append(table(["option", "default", "what it does"], _other_options(run, config_flags)))
    return "".join(out)


def commands_page() -> str:
    out = [GENERATED.format(source="the argument parsers in `bench/cli.py`"), "# Commands\n\n",
           "Every command of `python -m bench`, with its options as its argument parser declares them. "
           "`--help` after a command prints the same. The options of `bench run` are on their own "
           "page: [`bench run` options](options.md).\n\n"]
    top = build_parser()
    out.append("## Options of every command\n\nGiven before the command, as in `python -m bench --debug run`.\n\n")
    out.append(table(["option", "default", "what it does"],
                     _other_options(top, {a.dest for a in top._actions if isinstance(a, argparse._SubParsersAction)}))
               + "\n")
    helps = summaries()
    for name, parser in subcommands().items():
        summary = helps.get(name) or ""
        out.append(f"## `bench {name}`\n\n{escape(summary[:1].upper() + summary[1:])}.\n\n")
        if name == "run":
            out.append(escape(parser.description or "") + "\n\nSee [`bench run` options](options.md).\n\n")
            continue
        out.append(escape(parser.description or "") + "\n\n" if parser.description else "")
        out.append(table(["option", "default", "what it does"], _other_options(parser, set())) + "\n")
    return "".join(out)
