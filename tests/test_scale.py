"""``python -m bench scale`` on tiny sizes: every cell measured in its own process; failures marked."""
import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.measure.envinfo import device_name
from reports.scaling import scaling_figure

pytestmark = pytest.mark.slow  # bench scale sweeps

TINY = ["--batch", "4", "--hidden", "16", "--layers", "1", "--iters", "2", "--features", "12"]


def test_scale_writes_a_tidy_table_and_a_plot_with_linear_activation_memory(tmp_path, capsys):
    out = tmp_path / "scale"
    assert main(["scale", "--units", "indrnn,lstm", "--lengths", "100,200,400", *TINY, "--out", str(out)]) == 0
    table = pd.read_csv(out / "scaling.csv")
    assert len(table) == 6 and (table.status == "ok").all()
    assert (table.median_iter_s > 0).all() and (table.peak_mem_mb.notna()).all()
    ind = table[table.unit == "indrnn"].set_index("length").saved_mb
    # activations grow linearly in T: doubling T adds the same amount again (weights are the constant part)
    assert ind[400] - ind[200] == pytest.approx(2 * (ind[200] - ind[100]), rel=0.02)
    assert ind[200] - ind[100] > 0
    assert (out / "scaling.png").stat().st_size > 10_000
    assert "indrnn" in capsys.readouterr().out
    assert (table.device_name == device_name("cpu")).all()  # the machine is named in every row


@pytest.mark.parametrize("device, label", [("cpu", "peak resident memory above set-up (MiB)"),
                                           ("cuda", "peak GPU memory allocated above set-up (MiB)")])
def test_the_memory_panel_names_what_was_measured_on_each_device(device, label):
    rows = [dict(unit="indrnn", length=n, status="ok", median_iter_s=0.01 * n, saved_mb=n, peak_mem_mb=2 * n,
                 batch=4, layers=1, hidden=16, features=12, device=device, device_name="Some Card")
            for n in (100, 200)]
    fig = scaling_figure(pd.DataFrame(rows))
    assert [ax.get_ylabel() for ax in fig.axes][2] == label
    assert f"{device} (Some Card)" in fig.get_suptitle()


def test_a_length_that_runs_out_of_memory_is_marked_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "scale"
    argv = ["scale", "--units", "indrnn", "--lengths", "50,2000000", "--batch", "64", "--hidden", "64",
            "--layers", "1", "--iters", "1", "--max-memory-gb", "3", "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out / "scaling.csv").set_index("length")
    assert table.loc[50, "status"] == "ok"
    assert table.loc[2000000, "status"] == "out of memory" and pd.isna(table.loc[2000000, "median_iter_s"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_scale_on_cuda_writes_its_table_and_plot(tmp_path):
    out = tmp_path / "scale"
    assert main(["scale", "--device", "cuda", "--units", "indrnn,lstm", "--lengths", "100,200", *TINY,
                 "--out", str(out)]) == 0
    table = pd.read_csv(out / "scaling.csv")
    assert len(table) == 4 and (table.status == "ok").all() and (table.device == "cuda").all()
    assert (table.median_iter_s > 0).all() and (table.peak_mem_mb > 0).all() and (table.saved_mb > 0).all()
    assert (table.device_name == torch.cuda.get_device_name(0)).all()
    assert (out / "scaling.png").stat().st_size > 10_000


SCALE_INVALID = [(["--iters", "0"], "--iters must be a positive integer, got 0"),
                 (["--batch", "-2"], "--batch must be a positive integer, got -2"),
                 (["--threads", "0"], "--threads must be a positive integer, got 0"),
                 (["--device", "tpu"], "--device 'tpu': choose auto, cpu, cuda or cuda:N")]
if not torch.cuda.is_available():
    SCALE_INVALID.append((["--device", "cuda"], "--device cuda: torch"))


@pytest.mark.parametrize("extra,message", SCALE_INVALID, ids=[" ".join(a) for a, _ in SCALE_INVALID])
def test_a_bad_scale_option_is_refused_before_any_cell_runs(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)  # the default runs/scale-<device> would land here
    assert main(["scale", "--units", "indrnn", "--lengths", "10", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert list(tmp_path.iterdir()) == []
