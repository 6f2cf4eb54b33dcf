"""The command line and the TOML files of a run, both generated from :class:`bench.config.RunConfig`.

* :func:`add_config_flags` adds one flag per configuration field, with the field's help text and the
  presets' values, grouped by section; a field added to the config gets its flag here for free.
* :func:`resolve` builds the configuration: the preset, then ``--config FILE.toml``, then the flags
  given on the command line (each later one overriding), validated before anything is written.
* :func:`write_toml` writes a run's resolved configuration as ``config.toml``; feeding it back with
  ``--config`` reproduces the same configuration, hence the same run hash.
"""
from __future__ import annotations

import argparse
import sys
import typing
from dataclasses import fields
from pathlib import Path

from .config import PRESETS, SECTIONS, UNIT_GROUPS, ConfigError, RunConfig, field_problem, flag, preset

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["parse_units", "add_config_flags", "resolve", "read_toml", "write_toml", "UNITS_HELP"]

UNITS_HELP = ("'all' (the paper's four: rnn,lstm,gru,indrnn), 'modern' (mingru,minlstm,lru,mamba), "
              "'registered' (every registered unit, installed plugins included) or a comma list of units and groups, "
              "e.g. indrnn,lstm,modern; a plugin by its name, or path.to.module:factory for a module on the Python path")
"""The help text of every ``--units`` option (``bench run``, ``scale``, ``speed``, ``units``)."""


def parse_units(text: str) -> tuple[str, ...]:
    """The one ``--units`` syntax of every command: a comma list of unit names and groups ('all' = the
    paper's four, 'modern' = the diagonal linear recurrences, 'registered' = every unit, installed plugins
    included) and ``module:factory`` specs, in the order given, each unit once. A plugin that cannot load
    (its module does not import, its name is a built-in's) is refused here, in one line naming it.

    Args:
        text: e.g. ``"indrnn,lstm"``, ``"all"``, ``"modern,rnn"``, ``"indrnn,my_cells:elman"``.

    Returns:
        The unit names, groups expanded, duplicates dropped.

    Raises:
        argparse.ArgumentTypeError: an unknown name, a plugin that cannot load, or none at all (argparse
            reports it as a usage error).

    Examples:
        >>> from bench.options import parse_units
        >>> parse_units("lstm,all")
        ('lstm', 'rnn', 'gru', 'indrnn')
    """
    import models  # only when a unit list is actually given (keeps --help fast)

    try:
        known = models.available()
        groups = {**UNIT_GROUPS, "registered": tuple(known)}
        names = [u.strip() for u in text.split(",") if u.strip()]
        units = tuple(dict.fromkeys(u for name in names for u in groups.get(name, (name,))))
        for unit in units:
            if models.plugins.is_spec(unit):
                models.resolve(unit)  # imports it: a spec that cannot load fails here, not mid-run
    except models.PluginError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    unknown = [u for u in units if u not in known and not models.plugins.is_spec(u)]
    if unknown or not units:
        raise argparse.ArgumentTypeError(f"unknown unit(s) {', '.join(unknown) or repr(text)}; choose "
                                         f"{', '.join(map(repr, groups))}, module:factory or from: {', '.join(known)}")
    return units


def _names(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))


def _type(f):
    hint = typing.get_type_hints(RunConfig)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args and typing.get_origin(hint) is not tuple else hint


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per configuration field (default None: "not given", so presets and files show through).

    Each flag's help ends with the presets' values; fields are grouped by section. ``--preset`` and
    ``--config`` are added too.

    Args:
        p: the parser (``bench run``'s) to add the flags to.
    """
    quick, paper = PRESETS["quick"], PRESETS["paper"]
    groups = {s: p.add_argument_group(f"{s} options") for s in SECTIONS}
    for f in fields(RunConfig):
        if not f.metadata.get("cli"):
            continue
        kind = _type(f)
        values = [getattr(quick, f.name), getattr(paper, f.name)]
        shown = [",".join(v) if isinstance(v, tuple) else "unset" if v is None else str(v) for v in values]
        presets = shown[0] if shown[0] == shown[1] else f"quick {shown[0]}, paper {shown[1]}"
        if f.name == "units":
            presets = "all"
        said = presets == "unset" and "default" in f.metadata["help"]  # the help text says what unset means
        help_text = (f.metadata["help"] + ("" if said else f" (default: {presets})")).replace("%", "%%")
        g, name = groups[f.metadata["section"]], flag(f.name)
        if f.name == "units":
            g.add_argument(name, type=parse_units, default=None, help=help_text)
        elif typing.get_origin(kind) is tuple:  # a list of names, given as a comma list
            g.add_argument(name, type=_names, default=None, help=help_text, metavar="A,B")
        elif kind is bool:
            g.add_argument(name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif f.metadata.get("choices"):
            g.add_argument(name, choices=f.metadata["choices"], default=None, help=help_text)
        else:
            g.add_argument(name, type=kind, default=None, help=help_text,
                           metavar=f.name.upper() if len(f.name) > 1 else None)
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="quick: small, minutes on a CPU (default); paper: the paper's protocol (10x10-fold, "
                        "5 layers, lr 1e-5)")
    p.add_argument("--config", type=Path, help="a TOML file of the same options, in sections [protocol], [data], "
                                               "[features], [model], [training], [tuning], [execution]; flags override "
                                               "it")


def read_toml(path: Path) -> dict:
    """A config file as flat ``{field: value}``; unknown sections or keys are errors naming them.

    Args:
        path: a TOML file with a top-level ``preset = "..."`` and sections ``[protocol]``, ``[data]``,
            ... (the layout :func:`write_toml` writes).

    Returns:
        ``{field: value}`` (and ``preset`` if the file names one); lists as tuples, each value checked
            with :func:`bench.config.field_problem`.

    Raises:
        ConfigError: the file cannot be read or parsed, or holds an unknown section, an option in the
            wrong section, or a value that is not allowed.
    """
    try:
        with open(path, "rb") as fh:
            tree = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:  # a binary file, or another encoding
        raise ConfigError(f"--config {path}: not UTF-8 text ({exc.reason} at byte {exc.start}); a TOML file is UTF-8")
    known = {f.name: f.metadata["section"] for f in fields(RunConfig)}
    flat: dict = {}
    for key, value in tree.items():
        if key == "preset" and isinstance(value, str):
            flat["preset"] = value
        elif key in SECTIONS and isinstance(value, dict):
            for k, v in value.items():
                if known.get(k) != key:
                    raise ConfigError(f"--config {path}: [{key}] has no option {k!r}"
                                      + (f" (it belongs in [{known[k]}])" if k in known else ""))
                problem = field_problem(k, v)  # the type and bounds of the one configuration table
                if problem:
                    raise ConfigError(f"--config {path}: [{key}] {k} {problem}, got {_toml_value(v)}")
                flat[k] = tuple(v) if isinstance(v, list) else v
                if k == "units":
                    try:
                        flat[k] = parse_units(",".join(v))
                    except argparse.ArgumentTypeError as exc:
                        raise ConfigError(f"--config {path}: [{key}] units: {exc}") from None
        else:
            raise ConfigError(f"--config {path}: unknown entry {key!r}; sections are {', '.join(SECTIONS)}")
    return flat


def resolve(args: argparse.Namespace) -> RunConfig:
    """Preset, then the config file, then the flags given; the result is validated.

    Args:
        args: ``bench run``'s parsed arguments (:func:`add_config_flags`): ``preset``, ``config`` and one
            attribute per field, None when not given.

    Returns:
        The configuration: the preset (``--preset``, else the file's, else ``quick``) with the file's
            values and then the flags' on top; ``data_dir`` and ``split_file`` made absolute, and a split
            file implying ``protocol = "file"``.

    Raises:
        ConfigError: a value that is not allowed, an empty path, or a split file given with another
            protocol.
    """
    from_file = read_toml(args.config) if getattr(args, "config", None) else {}
    name = args.preset or from_file.pop("preset", None) or "quick"
    from_file.pop("preset", None)
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig)
             if f.metadata.get("cli") and getattr(args, f.name, None) is not None}
    merged = {**from_file, **given}
    for key in ("data_dir", "split_file"):
        if merged.get(key) is not None:
            if not str(merged[key]).strip():  # an unset variable: never read as the current folder
                where = f"--config {args.config}: {key}" if key in from_file and key not in given else flag(key)
                raise ConfigError(f"{where} is an empty string (an unset variable?): name a path or leave it out")
            merged[key] = str(Path(merged[key]).expanduser().resolve())
    if merged.get("split_file") is not None:
        if merged.get("protocol", "file") != "file":
            raise ConfigError(f"--split-file {merged['split_file']} and --protocol {merged['protocol']} both choose "
                              "the splits; give one")
        merged["protocol"] = "file"
    return preset(name, **merged)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def write_toml(cfg: RunConfig, path: Path) -> Path:
    """``cfg`` as a TOML file that :func:`read_toml` (and ``--config``) reads back to the same config.

    Args:
        cfg: the configuration.
        path: the file, written whole or not at all.

    Returns:
        ``path``.
    """
    from .results.store import atomic_write_text

    lines = ["# The resolved configuration of this run: `python -m bench run --config config.toml` reproduces it.",
             f'preset = "{cfg.preset}"']
    for section, values in cfg.sections().items():
        lines += ["", f"[{section}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
