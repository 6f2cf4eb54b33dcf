"""reports/: a run directory written here with known numbers, rendered, and every number checked."""
from __future__ import annotations

import base64
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

import reports
from reports import ReportError, figures, load_run, page, tables
from reports.stats import corrected_resampled_ttest
from scipy.stats import t as student

GENRES = ["blues", "jazz", "rock"]
# unit -> test accuracy of (repeat 0: folds 0,1,2; repeat 1: folds 0,1,2)
ACC = {
    "rnn": [0.70, 0.75, 0.80, 0.65, 0.70, 0.72],
    "lstm": [0.90, 0.85, 0.95, 0.80, 0.88, 0.91],
    "indrnn": [0.88, 0.86, 0.90, 0.84, 0.87, 0.89],
    "scat+logreg": [0.60, 0.62, 0.58, 0.61, 0.59, 0.63],
}
# unit -> seconds of the timed iterations of every fold are BASE * (1, 2, 3, 4, 5):
# pooled over 6 folds the quartiles are exactly BASE * (2, 3, 4).
BASE = {"rnn": 0.02, "lstm": 0.06, "indrnn": 0.01}
WARMUP_S = 9.0  # two warm-up iterations per fold, so slow they would move every statistic if counted
N_TRAIN, N_VAL, N_TEST = 150, 17, 33
EPOCHS = {"rnn": 4, "lstm": 5, "indrnn": 5}


def val_auc(unit: str, repeat: int, fold: int, epoch: int) -> float:
    return 0.5 + 0.05 * epoch + 0.01 * fold + 0.002 * repeat + (0.03 if unit == "lstm" else 0.0)


def write_run(root: Path, units=("rnn", "lstm", "indrnn", "scat+logreg"), repeats: int = 2, folds: int = 3,
              protocol: str = "cv", finished: bool = True, diverge: tuple | None = None) -> Path:
    """A run directory in the harness's exact schema, with the numbers above."""
    root.mkdir(parents=True, exist_ok=True)
    recurrent = [u for u in units if u != "scat+logreg"]
    config = {"preset": "quick", "units": recurrent, "baseline": "scat+logreg" in units, "protocol": protocol,
              "folds": folds, "repeats": repeats, "seed": 0, "val_fraction": 0.1, "epochs": 5, "patience": 8,
              "batch_size": 16, "lr": 0.002, "weight_decay": 0.0, "clip_grad": 1.0, "warmup_iters": 2, "hidden": 64,
              "layers": 3, "dropout": 0.2, "batch_norm": False, "dataset": "synthetic", "data_dir": None,
              "seconds": 10.0, "clips_per_genre": 20, "corpus_seed": 0, "J": 10, "Q": 8, "device": "cpu",
              "threads": None}
    meta = {"config": config,
            "environment": {"device": "cpu", "device_name": "Test CPU 9000", "cpu": "Test CPU 9000",
                            "torch_threads": 2, "cuda": None, "python": "3.11.7", "platform": "Linux-test",
                            "versions": {"torch": "2.13.0+cpu", "kymatio": "0.3.0", "numpy": "2.4.6"},
                            "commit": "abc123"},
            "features": {"shape": [60, 157, 374], "cache": "/tmp/x", "fingerprint": "f00d",
                         "config": {"sample_rate": 16000, "duration": 10.0, "J": 10, "Q": 8, "T": None,
                                    "log_eps": 1e-06},
                         "genres": GENRES, "skipped": [["bad.wav", "unreadable"]]},
            "jobs": len(units) * repeats * folds, "started": "2024-01-01T00:00:00+0000"}
    if finished:
        meta["finished"] = "2024-01-01T01:00:00+0000"
    (root / "metadata.json").write_text(json.dumps(meta, indent=2))

    frows, erows, irows, prows = [], [], [], []
    for unit in units:
        for k, (r, f) in enumerate((r, f) for r in range(repeats) for f in range(folds)):
            ids = dict(unit=unit, repeat=r, fold=f)
            diverged = diverge == (unit, r, f)
            acc = math.nan if diverged else ACC[unit][k]
            if unit in BASE:
                timed = [BASE[unit] * m for m in (1, 2, 3, 4, 5)]
                q1, med, q3 = np.percentile(timed, [25, 50, 75])
                n_ep = EPOCHS[unit]
                for e in range(1, n_ep + 1):
                    erows.append({**ids, "epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e,
                                  "val_acc": 0.5, "val_auc": val_auc(unit, r, f, e)})
                for i, s in enumerate([WARMUP_S, WARMUP_S] + timed):
                    irows.append({**ids, "iteration": i, "seconds": s, "warmup": i < 2})
                extra = dict(test_auc=0.9, epochs=n_ep, best_epoch=n_ep, median_iter_s=med, q1_iter_s=q1,
                             q3_iter_s=q3, timed_iters=5, params=1000)
            else:
                extra = dict(test_auc=math.nan, epochs=0, best_epoch=0, median_iter_s=math.nan,
                             q1_iter_s=math.nan, q3_iter_s=math.nan, timed_iters=0, params=30)
            frows.append({**ids, "test_acc": acc, **extra, "diverged": diverged,
                          "note": "non-finite training loss at epoch 1" if diverged else "",
                          "train_s": 1.0, "n_train": N_TRAIN, "n_val": N_VAL, "n_test": N_TEST})
            for c in range(6):  # six test clips: true = c % 3, the last one wrong
                true = c % 3
                pred = -1 if diverged else (true if c < 5 else (true + 1) % 3)
                prows.append({**ids, "clip_id": f"{GENRES[true]}.{k * 6 + c:05d}", "true": true, "pred": pred})
    pd.DataFrame(frows).to_csv(root / "folds.csv", index=False)
    pd.DataFrame(erows).to_csv(root / "epochs.csv", index=False)
    pd.DataFrame(irows).to_csv(root / "iterations.csv", index=False)
    pd.DataFrame(prows).to_csv(root / "predictions.csv", index=False)
    return root


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    run_dir = write_run(tmp_path_factory.mktemp("runs") / "synthetic-quick-test")
    return run_dir, reports.render(run_dir)


@pytest.fixture
def run(tmp_path) -> reports.Run:
    return load_run(write_run(tmp_path / "run"))


# -- the files ---------------------------------------------------------------------------------
def test_render_writes_every_file_into_run_dir_report(rendered):
    run_dir, paths = rendered
    expected = {"table1_csv", "table1_md", "timing_csv", "pairwise_csv", "confusion_csv", "figure5", "figure4",
                "confusion", "report_md", "report_html"}
    assert set(paths) == expected
    for p in paths.values():
        assert p.parent == run_dir / "report" and p.is_file() and p.stat().st_size > 0
    quoted = [line for line in paths["table1_md"].read_text().splitlines() if "quoted, not rerun" in line]
    assert len(quoted) == 5 and not any("nan" in line.split("|")[5] for line in quoted)  # an empty MACs/frame cell
    for name in ("figure5", "figure4", "confusion"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert paths[name].stat().st_size < 400_000  # small enough to commit


def test_render_into_another_directory(tmp_path):
    paths = reports.render(write_run(tmp_path / "run"), out_dir=tmp_path / "elsewhere")
    assert all(p.parent == tmp_path / "elsewhere" for p in paths.values())
    assert not (tmp_path / "run" / "report").exists()


# -- Table 1 -----------------------------------------------------------------------------------
def test_table1_carries_the_exact_means_and_stds_and_flags_quoted_rows(rendered):
    _, paths = rendered
    t1 = pd.read_csv(paths["table1_csv"])
    measured = t1[~t1["quoted"]].set_index("unit")
    assert list(measured.index) == ["rnn", "lstm", "indrnn", "scat+logreg"]
    for unit, acc in ACC.items():
        assert measured.loc[unit, "accuracy_mean_pct"] == pytest.approx(100 * np.mean(acc), abs=1e-9)
        assert measured.loc[unit, "accuracy_std_pct"] == pytest.approx(100 * np.std(acc, ddof=1), abs=1e-9)
        assert measured.loc[unit, "folds"] == 6
        assert measured.loc[unit, "source"] == "measured in this run"
    quoted = t1[t1["quoted"]]
    assert list(quoted["accuracy_mean_pct"]) == [90.6, 91.6, 92.4, 93.4, 96.0]
    assert quoted["source"].str.contains("not rerun").all()
    assert quoted["method"].str.contains("Lee").any() and quoted["method"].str.contains("Andén").any()
    md = paths["table1_md"].read_text()
    assert md.count("quoted, not rerun") == 5 and md.count("measured in this run") >= 4
    assert f"{100 * np.mean(ACC['lstm']):.1f} ± {100 * np.std(ACC['lstm'], ddof=1):.1f}" in md


def test_a_diverged_fold_stays_in_every_mean_at_chance_and_is_counted(tmp_path):
    run = load_run(write_run(tmp_path / "run", diverge=("lstm", 1, 2)))
    scored = ACC["lstm"][:5] + [1 / 3]  # three genres: a failed fold scores chance, 1/3
    t1 = tables.table1(run).set_index("method")
    assert t1.loc["LSTM", "accuracy_mean_pct"] == pytest.approx(100 * np.mean(scored))
    assert t1.loc["LSTM", "accuracy_std_pct"] == pytest.approx(100 * np.std(scored, ddof=1))
    assert t1.loc["LSTM", "folds"] == 6 and t1.loc["LSTM", "diverged"] == 1
    assert t1.loc["LSTM", "finished_folds"] == 5
    assert t1.loc["LSTM", "finished_mean_pct"] == pytest.approx(100 * np.mean(ACC["lstm"][:5]))
    assert t1.loc["RNN", "diverged"] == 0 and t1.loc["RNN", "finished_mean_pct"] == t1.loc["RNN", "accuracy_mean_pct"]
    pw = tables.pairwise_table(run).set_index(["unit_a", "unit_b"])
    row = pw.loc[("lstm", "indrnn")]
    assert row["folds"] == 6 and row["diverged_a"] == 1 and row["diverged_b"] == 0
    assert row["diff_pp"] == pytest.approx(100 * np.mean(np.subtract(scored, ACC["indrnn"])))
    assert any("diverged" in w and "LSTM repeat 1 fold 2" in w and "chance" in w for w in page.warnings(run))
    md = page.markdown_table(page.table1_display(tables.table1(run)))
    assert "6 (1 diverged)" in md and f"{100 * np.mean(ACC['lstm'][:5]):.1f} over 5" in md
    from bench.execution.run import summary_table  # the end-of-run summary counts it the same way

    s = summary_table(run.folds, run.iterations, n_classes=3)
    assert s.loc["lstm", "acc_mean"] == pytest.approx(np.mean(scored)) and s.loc["lstm", "diverged"] == 1
    assert s.loc["lstm", "acc_mean_finished"] == pytest.approx(np.mean(ACC["lstm"][:5]))
    reports.render(run.dir)  # a diverged fold (pred = -1) does not break figures or the page


def test_table1_interval_uses_the_corrected_resampled_variance(rendered):
    _, paths = rendered
    t1 = pd.read_csv(paths["table1_csv"]).set_index("method")
    acc = 100 * np.array(ACC["lstm"])
    half = student.ppf(0.975, 5) * math.sqrt((1 / 6 + N_TEST / N_TRAIN) * acc.var(ddof=1))
    assert t1.loc["LSTM", "ci_low_pct"] == pytest.approx(acc.mean() - half)
    assert t1.loc["LSTM", "ci_high_pct"] == pytest.approx(acc.mean() + half)
    naive = student.ppf(0.975, 5) * acc.std(ddof=1) / math.sqrt(6)
    assert half == pytest.approx(naive * math.sqrt(1 + 6 * N_TEST / N_TRAIN))  # 1.5 x wider than naive


def test_holm_adjustment_by_hand():
    from reports.stats import holm

    adj = holm([0.01, 0.04, np.nan, 0.03, 0.5])  # 4 tests: sorted 0.01, 0.03, 0.04, 0.5
    assert adj[0] == pytest.approx(0.04) and adj[3] == pytest.approx(0.09) and adj[1] == pytest.approx(0.09)
    assert adj[4] == pytest.approx(0.5) and np.isnan(adj[2])


def test_pairwise_table_has_a_holm_column_and_the_verdict_uses_it(rendered):
    _, paths = rendered
    pw = pd.read_csv(paths["pairwise_csv"])
    from reports.stats import holm

    assert pw["p_holm"].to_numpy() == pytest.approx(holm(pw["p"]), nan_ok=True)
    assert (pw["p_holm"] >= pw["p"]).all()
    assert "p (Holm)" in paths["report_md"].read_text()


# -- timing ------------------------------------------------------------------------------------
def test_timing_table_excludes_warmup_and_carries_exact_medians_iqr_and_ratios(rendered):
    _, paths = rendered
    tt = pd.read_csv(paths["timing_csv"]).set_index("unit")
    assert list(tt.index) == ["rnn", "lstm", "indrnn"]  # the baseline trains no iterations
    for unit, base in BASE.items():
        assert tt.loc[unit, "median_s"] == pytest.approx(3 * base, rel=1e-12)
        assert tt.loc[unit, "q1_s"] == pytest.approx(2 * base, rel=1e-12)
        assert tt.loc[unit, "q3_s"] == pytest.approx(4 * base, rel=1e-12)
        assert tt.loc[unit, "iqr_s"] == pytest.approx(2 * base, rel=1e-12)
        assert tt.loc[unit, "timed_iters"] == 30
        assert tt.loc[unit, "ratio_to_indrnn"] == pytest.approx(base / BASE["indrnn"], rel=1e-12)
        assert tt.loc[unit, "device_name"] == "Test CPU 9000" and tt.loc[unit, "threads"] == 2
    assert tt.loc["rnn", "paper_s"] == 0.27 and tt.loc["lstm", "paper_ratio_to_indrnn"] == pytest.approx(0.68 / 0.23)


def test_without_indrnn_there_are_no_ratios_and_the_report_still_renders(tmp_path):
    run = load_run(write_run(tmp_path / "run", units=("rnn", "lstm", "scat+logreg")))
    tt = tables.timing_table(run)
    assert tt["ratio_to_indrnn"].isna().all() and tt["median_s"].notna().all()
    fig = figures.figure5(run)
    assert "not in this run" in " ".join(t.get_text() for t in fig.axes[2].texts)
    matplotlib.pyplot.close(fig)
    reports.render(run.dir)


# -- pairwise comparison -----------------------------------------------------------------------
def by_hand(a: list[float], b: list[float], ratio: float) -> tuple[float, float, float]:
    d = [100 * (x - y) for x, y in zip(a, b)]
    n = len(d)
    m = sum(d) / n
    s2 = sum((x - m) ** 2 for x in d) / (n - 1)
    t = m / math.sqrt((1 / n + ratio) * s2)
    from scipy.stats import t as student
    return m, t, 2 * student.sf(abs(t), n - 1)


def test_pairwise_table_uses_the_corrected_resampled_t_test(rendered):
    _, paths = rendered
    pw = pd.read_csv(paths["pairwise_csv"])
    assert len(pw) == 6  # 4 units, every pair once
    row = pw[(pw["unit_a"] == "rnn") & (pw["unit_b"] == "lstm")].iloc[0]
    m, t, p = by_hand(ACC["rnn"], ACC["lstm"], N_TEST / N_TRAIN)
    assert row["folds"] == 6 and row["df"] == 5
    assert row["diff_pp"] == pytest.approx(m) and row["t"] == pytest.approx(t) and row["p"] == pytest.approx(p)
    assert row["test_train_ratio"] == pytest.approx(N_TEST / N_TRAIN)
    assert row["ci_low_pp"] < m < row["ci_high_pp"]
    # the timing ratio on each fold is exactly 0.02 / 0.06; no spread
    assert row["time_ratio_median"] == pytest.approx(1 / 3) and row["time_ratio_q1"] == pytest.approx(1 / 3)
    assert row["time_folds"] == 6
    base = pw[(pw["unit_a"] == "indrnn") & (pw["unit_b"] == "scat+logreg")].iloc[0]
    assert np.isnan(base["time_ratio_median"]) and base["time_folds"] == 0  # the baseline has no time


def test_corrected_t_is_less_confident_than_the_naive_paired_t():
    d = np.array([1.0, 2.0, 0.5, 1.5, 1.2, 0.8])
    naive = d.mean() / (d.std(ddof=1) / math.sqrt(6))
    test = corrected_resampled_ttest(d, 0.25)
    assert test.t == pytest.approx(d.mean() / math.sqrt((1 / 6 + 0.25) * d.var(ddof=1)))
    assert 0 < test.t < naive and test.tested


def test_a_single_split_reports_the_difference_without_a_test(tmp_path):
    run = load_run(write_run(tmp_path / "run", repeats=1, folds=1, protocol="filtered"))
    row = tables.pairwise_table(run).iloc[0]
    assert row["folds"] == 1 and row["diff_pp"] == pytest.approx(100 * (ACC["rnn"][0] - ACC["lstm"][0]))
    assert np.isnan(row["t"]) and np.isnan(row["p"]) and "no test is possible" in row["note"]
    assert "single artist-filtered" in page.method_line(run)
    assert "no test is possible" in reports.render(run.dir)["report_md"].read_text()


# -- figures -----------------------------------------------------------------------------------
def bars(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_figure5_has_labelled_axes_one_series_per_unit_and_paper_marks(run):
    fig = figures.figure5(run)
    ax_a, ax_b, ax_c = fig.axes
    assert (ax_a.get_xlabel(), ax_a.get_ylabel()) == ("unit", "test accuracy (%)")
    assert [t.get_text() for t in ax_a.get_xticklabels()] == ["RNN", "LSTM", "IndRNN", "scat+logreg"]
    assert len(bars(ax_a)) == 4  # one per unit, the baseline included
    heights = [c.patches[0].get_height() for c in bars(ax_a)]
    assert heights == pytest.approx([100 * np.mean(ACC[u]) for u in ("rnn", "lstm", "indrnn", "scat+logreg")])
    assert [t.get_text() for t in ax_a.get_legend().get_texts()] == ["paper (Wu et al.), not rerun"]
    paper_y = sorted(ax_a.collections[-1].get_offsets()[:, 1])
    assert paper_y == [89.0, 96.0, 97.0]

    assert ax_b.get_ylabel() == "training time per iteration (ms)" and len(bars(ax_b)) == 3
    assert [c.patches[0].get_height() for c in bars(ax_b)] == pytest.approx([60.0, 180.0, 30.0])
    assert "0.27 s" in " ".join(t.get_text() for t in ax_b.texts)

    assert "IndRNN" in ax_c.get_ylabel() and len(bars(ax_c)) == 3
    assert [c.patches[0].get_height() for c in bars(ax_c)] == pytest.approx([2.0, 6.0, 1.0])
    paper_ratio = sorted(ax_c.collections[-1].get_offsets()[:, 1])
    assert paper_ratio == pytest.approx(sorted([0.27 / 0.23, 0.68 / 0.23, 1.0]))
    assert "Test CPU 9000" in fig._suptitle.get_text()
    matplotlib.pyplot.close(fig)


def test_figure4_has_one_line_per_unit_with_the_mean_auc(run):
    fig = figures.figure4(run)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "validation AUC-ROC (macro, one-vs-rest)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["RNN", "LSTM", "IndRNN"]
    lines = [ln for ln in ax.lines if len(ln.get_xdata())]
    assert len(lines) == 3
    lstm = lines[1]
    mean1 = np.mean([val_auc("lstm", r, f, 1) for r in range(2) for f in range(3)])
    assert list(lstm.get_xdata()) == [1, 2, 3, 4, 5] and lstm.get_ydata()[0] == pytest.approx(mean1)
    assert len(lines[0].get_xdata()) == EPOCHS["rnn"]
    assert len(ax.collections) == 3  # one band per unit
    band = ax.collections[1].get_paths()[0].vertices[:, 1]  # LSTM's band: lower and upper edges
    aucs = [val_auc("lstm", r, f, 1) for r in range(2) for f in range(3)]
    half = student.ppf(0.975, 5) * math.sqrt((1 / 6 + N_VAL / N_TRAIN) * np.var(aucs, ddof=1))
    assert max(band) - min(band) >= 2 * half - 1e-9  # at least epoch 1's corrected interval wide
    assert np.isclose(band, mean1 + half).any() and np.isclose(band, mean1 - half).any()
    matplotlib.pyplot.close(fig)


def test_confusion_figure_has_one_matrix_per_unit_with_genres_on_both_axes(run):
    fig = figures.confusion_figure(run)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4
    for ax in visible:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted genre", "true genre")
        assert [t.get_text() for t in ax.get_xticklabels()] == GENRES
        assert [t.get_text() for t in ax.get_yticklabels()] == GENRES
    matplotlib.pyplot.close(fig)
    cc = tables.confusion_counts(run)
    rnn = cc[cc["unit"] == "rnn"].set_index(["true", "pred"])["count"]
    # per fold 6 clips, 2 per genre, the last (rock) predicted as blues; 6 folds
    assert rnn[("blues", "blues")] == 12 and rnn[("rock", "rock")] == 6 and rnn[("rock", "blues")] == 6
    assert rnn.sum() == 36


# -- the page ----------------------------------------------------------------------------------
def test_html_page_is_self_contained(rendered):
    _, paths = rendered
    text = paths["report_html"].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", text, re.I)
    assert "<link" not in text and "<script" not in text and "@import" not in text and "url(" not in text
    srcs = re.findall(r'src="([^"]*)"', text)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert all(base64.b64decode(s.split(",", 1)[1])[:4] == b"\x89PNG" for s in srcs)


def test_page_gathers_tables_figures_and_run_facts(rendered):
    _, paths = rendered
    md = paths["report_md"].read_text()
    for needle in ("How the numbers were obtained: Test accuracy of each of the 2 × 3-fold", "a batch of 16",
                   "eager step, fp32", "partial batches left out",
                   "after 2 warm-up iterations", "Test CPU 9000 with 2 threads", "Table 1", "Figure 5", "Figure 4",
                   "Pairwise comparison", "Nadeau & Bengio", "Confusion matrices", "![Figure 5](figure5.png)",
                   "2.13.0+cpu", "abc123", "bad.wav: unreadable", "synthetic", "blues, jazz, rock"):
        assert needle in md, needle
    assert "Warning" not in md  # finished, nothing diverged, clean commit
    html = paths["report_html"].read_text()
    assert "Test CPU 9000" in html and "Table 1" in html


def test_unfinished_run_is_flagged(tmp_path):
    run = load_run(write_run(tmp_path / "run", finished=False))
    assert any("unfinished" in w for w in page.warnings(run))


# -- errors ------------------------------------------------------------------------------------
def test_missing_run_directory(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        reports.render(tmp_path / "nope")


@pytest.mark.parametrize("name", ["folds.csv", "epochs.csv", "iterations.csv", "predictions.csv"])
def test_missing_table_is_named(tmp_path, name):
    run_dir = write_run(tmp_path / "run")
    (run_dir / name).unlink()
    with pytest.raises(ReportError, match=re.escape(name) + ".*missing"):
        reports.render(run_dir)


@pytest.mark.parametrize("content", ["", "unit,repeat,fold,test_acc\n"], ids=["zero-bytes", "header-only"])
def test_empty_folds_csv_is_named(tmp_path, content):
    run_dir = write_run(tmp_path / "run")
    (run_dir / "folds.csv").write_text(content)
    with pytest.raises(ReportError, match=r"folds\.csv is empty"):
        load_run(run_dir)


def test_missing_or_broken_metadata_is_named(tmp_path):
    run_dir = write_run(tmp_path / "run")
    (run_dir / "metadata.json").unlink()
    with pytest.raises(ReportError, match=r"metadata\.json is missing"):
        load_run(run_dir)
    (run_dir / "metadata.json").write_text('{"config": {"units": [')  # cut off mid-write
    with pytest.raises(ReportError, match=r"metadata\.json cannot be parsed"):
        load_run(run_dir)


def test_missing_column_is_named(tmp_path):
    run_dir = write_run(tmp_path / "run")
    pd.read_csv(run_dir / "folds.csv").drop(columns=["n_test"]).to_csv(run_dir / "folds.csv", index=False)
    with pytest.raises(ReportError, match=r"folds\.csv lacks column\(s\) n_test"):
        load_run(run_dir)


def test_tables_out_of_step_are_named(tmp_path):
    run_dir = write_run(tmp_path / "run")
    it = pd.read_csv(run_dir / "iterations.csv")
    it[it["unit"] != "lstm"].to_csv(run_dir / "iterations.csv", index=False)
    with pytest.raises(ReportError, match=r"iterations\.csv has no rows for unit\(s\) lstm"):
        load_run(run_dir)


def test_baseline_only_run_renders(tmp_path):
    run_dir = write_run(tmp_path / "run", units=("scat+logreg",))
    for name in ("epochs.csv", "iterations.csv"):  # what the store writes when no job produced rows
        (run_dir / name).write_text("")
    paths = reports.render(run_dir)
    assert pd.read_csv(paths["timing_csv"]).empty


# -- layering ----------------------------------------------------------------------------------
def test_reports_imports_no_other_package_of_the_project():
    code = ("import sys, reports, reports.figures, reports.page, reports.tables; "
            "bad = [m for m in ('bench', 'models', 'features', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_a_two_fold_accuracy_interval_stays_within_0_and_100_percent(tmp_path):
    """t with 1 degree of freedom is 12.7: the raw interval of 2 folds spans far beyond [0, 100] %."""
    run = load_run(write_run(tmp_path / "run", repeats=1, folds=2))
    t1 = tables.table1(run)
    measured = t1[~t1["quoted"]]
    assert (measured["ci_low_pct"] >= 0).all() and (measured["ci_high_pct"] <= 100).all()
    lstm = measured.set_index("unit").loc["lstm"]  # 90 % and 85 %: 87.5 +- 38.1, so up to 125.6 % unclipped
    assert lstm.ci_low_pct == pytest.approx(49.38, abs=0.01) and lstm.ci_high_pct == 100


def test_figure4_band_stays_within_an_auc_range(run):
    """Issue 28: near AUC 1 with a wide spread, the corrected interval reaches past 1 (1.8 in the example
    report); the drawn band is clipped to [0, 1], the mean line left as it is."""
    import dataclasses

    rng = np.random.default_rng(0)
    epochs = run.epochs.assign(val_auc=np.clip(0.97 + 0.05 * rng.standard_normal(len(run.epochs)), 0.5, 1.0))
    fig = figures.figure4(dataclasses.replace(run, epochs=epochs))
    edges = np.concatenate([c.get_paths()[0].vertices[:, 1] for c in fig.axes[0].collections])
    assert edges.max() == pytest.approx(1.0) and edges.min() >= 0.0
    matplotlib.pyplot.close(fig)
