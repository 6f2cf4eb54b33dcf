"""Units from outside the project: module:factory specs, installed entry points, the contract's verdict on
bad plugins (one line each, nothing written), the plugin's record and identity, and the example package
installed and run end to end."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import models
from bench.cli import build_parser, main
from bench.config import ConfigError
from bench.options import parse_units, resolve
from bench.execution.run import check_plugin, default_run_dir, run_identity
from bench.results.store import RunMismatch
from tests.conftest import write_gtzan
from tests.test_run import TINY_RUN

ROOT = Path(__file__).resolve().parent.parent

LAYERS = '''"""Small layers for the plugin tests: one that keeps the unit contract, one per way of breaking it."""
import torch
from torch import nn


class Elman(nn.Module):
    def __init__(self, input_size, hidden):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


class LastOnly(Elman):  # the last state alone: (batch, hidden), no time axis
    def forward(self, x):
        return super().forward(x)[:, -1]


class Leaky(Elman):  # causal, but scaled by the padded length: the padding reaches every frame
    def forward(self, x):
        return super().forward(x) * x.shape[1] / 12


class Peeking(Elman):  # reads the next frame
    def forward(self, x):
        return super().forward(torch.roll(x, -1, dims=1))


class Reading(Elman):  # keeps the contract, but its constructor reads a weight (which meta tensors cannot)
    def __init__(self, input_size, hidden):
        super().__init__(input_size, hidden)
        self.start = float(self.rnn.weight_hh_l0.detach().abs().max())


def good(input_size, config):
    return Elman(input_size, config.hidden)


def reading(input_size, config):
    return Reading(input_size, config.hidden)


def last_only(input_size, config):
    return LastOnly(input_size, config.hidden)


def leaky(input_size, config):
    return Leaky(input_size, config.hidden)


def peeking(input_size, config):
    return Peeking(input_size, config.hidden)


def raising(input_size, config):
    raise RuntimeError("no kernel for this width")


def no_module(input_size, config):
    return "a layer"


NOT_A_FACTORY = 3
'''


@pytest.fixture
def layers(tmp_path, monkeypatch) -> str:
    """A module of plugin layers on the Python path, under a name of its own (the tests never share one)."""
    name = "plugin_layers_" + re.sub(r"\W", "_", tmp_path.name)
    (tmp_path / f"{name}.py").write_text(LAYERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def install_entry_points(site: Path, dist: str, units: dict[str, str], version: str = "1.0") -> Path:
    """What ``pip install`` leaves for a package declaring ``units``: its dist-info with entry_points.txt."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[rnn_genre_bench.units]\n" + "".join(f"{k} = {v}\n" for k, v in units.items()))
    return site


def status(argv: list[str]) -> int:
    """``python -m bench ARGV``'s exit status (argparse's own errors exit at once)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def hash_of(module: str) -> str:
    return models.provenance(f"{module}:good").split("sha256:")[1]


# -- module:factory -----------------------------------------------------------------------------------
def test_a_module_spec_is_a_unit_like_any_other(layers, tmp_path):
    import torch

    spec = f"{layers}:good"
    assert parse_units(f"indrnn,{spec}") == ("indrnn", spec)
    assert spec not in models.available()  # named, not installed
    for block in ("native", "stack", "residual"):
        model = models.build(spec, 5, 3, models.ModelConfig(hidden=8, layers=2, block=block))
        assert model(torch.randn(2, 7, 5), torch.tensor([7, 3])).shape == (2, 3)
    native = models.build(spec, 5, 3, models.ModelConfig(hidden=8, layers=2)).encoder
    assert [layer.rnn.input_size for layer in native.layers] == [5, 8]  # plainly stacked, the first from the input
    digest = __import__("hashlib").sha256((tmp_path / f"{layers}.py").read_bytes()).hexdigest()[:16]
    assert models.provenance(spec) == f"{layers} sha256:{digest}" and models.provenance("indrnn") == ""


def test_a_plugin_gets_its_width_for_a_parameter_budget(layers):
    from models.budget import param_count, width_for_budget

    config = models.ModelConfig(hidden=8, layers=2, block="stack")
    for spec in (f"{layers}:good", f"{layers}:reading"):  # counted on the meta device, else (reading) on the CPU
        width = width_for_budget(spec, 5, 3, config, 2000)
        assert abs(param_count(spec, 5, 3, replace(config, hidden=width)) - 2000) < 200


def test_config_files_take_plugins_as_the_command_line_does(layers, tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text(f'[protocol]\nunits = ["indrnn", "{layers}:good"]\n')
    assert resolve(build_parser().parse_args(["run", "--config", str(toml)])).units == ("indrnn", f"{layers}:good")
    toml.write_text(f'[protocol]\nunits = ["indrnn", "{layers}:missing"]\n')
    with pytest.raises(ConfigError, match=rf"--config .*run.toml: \[protocol\] units: plugin unit '{layers}:missing': "
                                          rf"module '{layers}' \(.*\) has no attribute 'missing'"):
        resolve(build_parser().parse_args(["run", "--config", str(toml)]))


# -- bad plugins: one line naming the plugin and what is wrong; nothing written ---------------------------
BAD = {
    "raising": r"breaks the unit contract at 'build': its factory raised RuntimeError: no kernel for this width",
    "no_module": r"breaks the unit contract at 'build': its factory returned str, not a torch\.nn\.Module",
    "last_only": r"breaks the unit contract at 'shape': its layer maps \(3, 12, 8\) float32 to \(3, 8\) float32; "
                 r"expected \(3, 12, 8\) float32: \(batch, time, config\.hidden\) in the input's dtype",
    "leaky": r"breaks the unit contract at 'padding': sequence 1 \(7 valid frames\): frame 0 differs by [0-9.e+-]+ "
             r"between the padded batch \(12 frames\) and the sequence alone",
    "peeking": r"breaks the unit contract at 'causal': a change at frame 6 changed frame 4 \(by [0-9.e+-]+\), "
               r"before it",
}


@pytest.mark.parametrize("factory", list(BAD))
def test_bench_run_refuses_a_plugin_that_breaks_the_contract(layers, factory, tmp_path, capsys):
    out, cache = tmp_path / "run", tmp_path / "cache"
    spec = f"{layers}:{factory}"
    argv = ["run", "--units", f"indrnn,{spec}", "--hidden", "8", "--layers", "2", "--out", str(out),
            "--cache-dir", str(cache), "--device", "cpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(rf"error: plugin unit '{spec}' \({layers} sha256:[0-9a-f]{{16}}\) {BAD[factory]} "
                        rf"\(python -m bench check-unit {spec} checks every point\)\n", err), err
    assert not out.exists() and not cache.exists()


@pytest.mark.parametrize("units,message", [
    ("{m}:NOT_A_FACTORY", "plugin unit '{m}:NOT_A_FACTORY': 'NOT_A_FACTORY' is a int, not a factory(input_size, "
                          "config) -> nn.Module"),
    ("{m}:nothing", "plugin unit '{m}:nothing': module '{m}' ({path}) has no attribute 'nothing'"),
    ("no_such_plugin_module:make", "plugin unit 'no_such_plugin_module:make': cannot import module "
                                   "'no_such_plugin_module' (ModuleNotFoundError: No module named 'no_such_plugin_module')"),
    ("{m}:", "plugin unit '{m}:': is not a module:factory spec (a dotted module path, a colon, then a name in that "
             "module)"),
])
def test_a_plugin_that_cannot_load_is_refused_as_the_units_are_parsed(layers, tmp_path, capsys, units, message):
    out = tmp_path / "run"
    assert status(["run", "--units", "indrnn," + units.format(m=layers), "--out", str(out)]) == 2
    expected = message.format(m=layers, path=tmp_path / f"{layers}.py")
    assert capsys.readouterr().err == f"error: argument --units: {expected} (see python -m bench run --help)\n"
    assert not out.exists()


def test_check_unit_names_the_point_a_bad_plugin_fails(layers, capsys):
    assert main(["check-unit", f"{layers}:leaky", "--block", "native", "--device", "cpu"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"check-unit {layers}:leaky: plugin ({layers} sha256:")
    assert "ok    cpu   native    causal        a change at frame 6, 1 or 11 changes no frame before it" in lines
    assert any(re.fullmatch(r"FAIL  cpu   native    padding       sequence 1 \(7 valid frames\): frame 0 differs by "
                            r"\S+ between the padded batch \(12 frames\) and the sequence alone", line) for line in lines)
    assert re.fullmatch(rf"\d of 10 points fail: {layers}:leaky breaks the unit contract \(models/contract.py\)", lines[-1])

    assert main(["check-unit", f"{layers}:peeking", "--block", "stack", "--device", "cpu"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(re.fullmatch(r"FAIL  cpu   stack     causal        a change at frame 6 changed frame 4 \(by \S+\), "
                            "before it", line) for line in lines)

    assert main(["check-unit", f"{layers}:last_only", "--block", "residual", "--device", "cpu"]) == 1
    lines = capsys.readouterr().out.splitlines()  # build holds; shape fails; nothing after it can be checked
    assert [line.split()[0] for line in lines[1:-1]] == ["ok", "FAIL"] and "shape" in lines[2]
    assert lines[-1].startswith(f"1 of 2 points fail: {layers}:last_only")


def test_check_unit_passes_a_plugin_that_keeps_the_contract(layers, capsys):
    assert main(["check-unit", f"{layers}:good", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("\nok    cpu   ") == 30 and "FAIL" not in out
    assert out.splitlines()[-1] == f"all 30 points hold: {layers}:good keeps the unit contract"


# -- installed packages (entry points) -----------------------------------------------------------------
def test_an_installed_plugin_is_listed_and_used_by_name(layers, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(install_entry_points(tmp_path / "site", "tiny-units", {"tiny_elman": f"{layers}:good"})))
    assert models.available()[-1] == "tiny_elman" and models.available()[:-1] == list(models.UNITS)
    assert parse_units("registered")[-1] == "tiny_elman" and parse_units("indrnn,tiny_elman") == ("indrnn", "tiny_elman")
    assert models.provenance("tiny_elman") == f"tiny-units 1.0, {layers} sha256:{hash_of(layers)}"
    assert main(["units", "--units", "indrnn,tiny_elman", "--hidden", "8", "--layers", "1", "--frames", "20"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^tiny_elman +8 +\(2, 20, 374\) +\(2, 10\) ", out, re.M)
    assert f"plugin tiny_elman: tiny-units 1.0, {layers} sha256:" in out

    from docs.gen.units import plugin_section  # the generated unit reference lists it where it is installed

    section = plugin_section(["tiny_elman"])
    assert "## Plugins installed here" in section and f"`tiny-units 1.0, {layers} sha256:" in section
    assert "### `tiny_elman`" in section and "Small layers for the plugin tests" in section
    assert plugin_section([]) == ""  # none installed: the page is the built-ins' alone


def test_a_plugin_named_like_a_built_in_is_refused(layers, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(install_entry_points(tmp_path / "site", "clash-units", {"lstm": f"{layers}:good"})))
    clash = (f"plugin unit 'lstm' (entry point {layers}:good of clash-units 1.0): has the name of a built-in unit; "
             "rename its entry point in group rnn_genre_bench.units")
    out = tmp_path / "run"
    assert status(["run", "--units", "indrnn", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: argument --units: {clash} (see python -m bench run --help)\n"
    assert not out.exists()
    assert main(["units"]) == 2
    assert capsys.readouterr().err == f"error: {clash}\n"


def test_two_packages_declaring_one_name_are_refused(layers, tmp_path, monkeypatch):
    site = install_entry_points(tmp_path / "site", "units-a", {"twice": f"{layers}:good"})
    install_entry_points(site, "units-b", {"twice": f"{layers}:leaky"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(models.PluginError, match=rf"plugin unit 'twice': declared by entry point {layers}:\w+ of "
                                                  rf"units-\w 1.0 and by entry point {layers}:\w+ of units-\w 1.0; "
                                                  "uninstall one"):
        models.available()


# -- the plugin's record: per job, and in the run's identity ---------------------------------------------
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_gtzan(tmp_path_factory.mktemp("gtzan"), genres=("blues", "pop", "rock"), per_genre=6, seconds=1.0)


def test_a_changed_plugin_never_resumes_into_old_results(layers, data_dir, tmp_path, capsys):
    spec, out = f"{layers}:good", tmp_path / "run"
    argv = ["run", "--dataset", "gtzan", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "c"),
            "--out", str(out), *TINY_RUN, "--folds", "2", "--epochs", "2", "--units", spec, "--no-report"]
    assert main(argv) == 0
    before = hash_of(layers)
    env = pd.read_csv(out / "environment.csv")  # per job: the plugin's code; empty for the baseline
    assert env[env.unit == spec].plugin.eq(f"{layers} sha256:{before}").all() and env[env.unit != spec].plugin.isna().all()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["config"]["plugins"] == {spec: f"{layers} sha256:{before}"}
    assert pd.read_csv(out / "folds.csv").query("unit == @spec").test_acc.notna().all()
    cfg = resolve(build_parser().parse_args(argv))
    old_dir = default_run_dir(cfg)

    source = tmp_path / f"{layers}.py"
    source.write_text(source.read_text() + "\n# a change to the plugin's code\n")
    after = hash_of(layers)
    assert run_identity(cfg)["plugins"] == {spec: f"{layers} sha256:{after}"} and default_run_dir(cfg) != old_dir
    capsys.readouterr()
    assert main(argv) == 2  # the same --out: refused, the old results untouched
    err = capsys.readouterr().err
    assert f"holds a run with another config (differs in: plugins; plugin code changed since, {spec}: " \
           f"{layers} sha256:{before} -> {layers} sha256:{after}); use another --out or the same options and " \
           "plugin code to resume" in err and err.count("\n") == 1


def test_a_job_that_ran_other_plugin_code_is_refused():
    check_plugin("u-r00-f00", "units-a 1.0, m sha256:aa", "units-a 1.0, m sha256:aa", "runs/x")  # the same: stored
    with pytest.raises(RunMismatch, match=r"runs/x: job u-r00-f00 ran plugin code 'units-a 1\.1, m sha256:bb', this "
                                          r"run's is 'units-a 1\.0, m sha256:aa'; install the same plugin version"):
        check_plugin("u-r00-f00", "units-a 1.1, m sha256:bb", "units-a 1.0, m sha256:aa", "runs/x")


# -- the example package, installed with pip and run end to end -------------------------------------------
@pytest.mark.slow
def test_the_example_plugin_installs_lists_checks_and_runs(data_dir, tmp_path):
    pip = [sys.executable, "-m", "pip"]
    if subprocess.run([*pip, "--version"], capture_output=True).returncode:
        pytest.skip("pip is not installed here")
    source = shutil.copytree(ROOT / "examples" / "plugin_unit", tmp_path / "src")  # pip builds in its source tree
    site = tmp_path / "site"  # the test's own environment: the dist-info and package on PYTHONPATH
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "--target",
                    str(site), str(source)], check=True, capture_output=True, timeout=300)
    path = [str(site), str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}

    def bench(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "bench", *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    listed = bench("units", "--hidden", "8", "--layers", "2", "--frames", "20").stdout
    assert re.search(r"^ln_elman +8 ", listed, re.M)
    provenance = re.search(r"^plugin ln_elman: (rnn-genre-bench-ln-elman 0\.1\.0, ln_elman_unit sha256:[0-9a-f]{16})$",
                           listed, re.M).group(1)
    checked = bench("check-unit", "ln_elman", "--device", "cpu").stdout
    assert checked.splitlines()[-1] == "all 30 points hold: ln_elman keeps the unit contract"
    assert "kernels ln_elman:python-loop:float32" in checked  # its optional kernel record

    out = tmp_path / "run"
    bench("run", "--dataset", "gtzan", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "c"),
          "--out", str(out), *TINY_RUN, "--units", "indrnn,ln_elman")
    folds = pd.read_csv(out / "folds.csv")
    mine = folds[folds.unit == "ln_elman"]
    assert len(mine) == 3 and mine.test_acc.between(0, 1).all() and not mine.diverged.any()
    assert mine.kernels.eq("ln_elman:python-loop:float32").all()
    env = pd.read_csv(out / "environment.csv")
    assert env[env.unit == "ln_elman"].plugin.eq(provenance).all() and env[env.unit != "ln_elman"].plugin.isna().all()
    assert json.loads((out / "metadata.json").read_text())["config"]["plugins"] == {"ln_elman": provenance}
    from reports.page import md_escape

    report = (out / "report" / "report.md").read_text()  # the plugin in its own group, its code in the run's table
    assert re.search(r"^\| ln\\_elman \| plugin \| 8 \| ", report, re.M)
    assert md_escape(f"{{'ln_elman': '{provenance}'}}") in report
