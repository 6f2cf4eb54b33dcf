"""Render a run directory (``runs/<id>/``) into figures, tables and one report page.

``render(run_dir)`` reads only the run's files (``metadata.json``, ``folds.csv``, ``predictions.csv``,
``epochs.parquet``, ``iterations.parquet``; or CSV versions of each) and writes into ``run_dir/report/``:

    table1.csv, table1.md   mean test accuracy per unit beside the literature rows the paper quotes
    timing.csv              median / IQR seconds per iteration per unit, ratio to IndRNN
    pairwise.csv            every pair of units: accuracy difference, corrected resampled t-test (and Holm), time ratio
    confusion.csv           confusion counts per unit, pooled over folds and repeats
    figure5.png, figure4.png, confusion.png
    report.md, report.html  the page (the HTML is self-contained: images embedded)

and, for a tuned run (``trials.csv``, ``--tune N``), the section "What the tuning saw" (:mod:`reports.tuning`):

    tuning_summary.csv      per unit: trials, validation accuracy, tuning time, overhead, chosen learning rates
    tuning_chosen.csv       the chosen trial of every fold and its hyperparameters
    tuning_importance.csv   fANOVA importance of each hyperparameter per unit
    tuning_spread.png, tuning_budget.png, tuning_lr.png, tuning_importance.png

This package never imports ``features``, ``models`` or ``bench``: data flows one way, into it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .load import ReportError, Run, load_run

__all__ = ["render", "ReportError", "Run", "load_run"]


def render(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Render the report of one run.

    Args:
        run_dir: a directory written by ``bench run``.
        out_dir: where to write; default ``run_dir/report``.

    Returns:
        Name -> path of every file written (``table1_csv``, ``table1_md``, ``timing_csv``,
            ``pairwise_csv``, ``confusion_csv``, ``figure5``, ``figure4``, ``confusion``, ``report_md``,
            ``report_html``; a tuned run adds ``tuning_*_csv`` and the ``tuning_*`` figures).

    Raises:
        ReportError: the run directory is missing, or a file in it is missing, empty or half-written.
    """
    from . import figures  # matplotlib only when rendering

    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.dir / "report"
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.tmp-*"):  # left by a report killed while writing
        shutil.rmtree(stale, ignore_errors=True)
    # every file is written into a staging folder first and moved in only when all are complete: a
    # report that fails half-way (disk full, a file-size limit, Ctrl-C) leaves the previous one whole
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        try:
            with figures.plain_text():  # user-named text is drawn as typed, never as mathtext
                staged = _render(run, stage)
        except OSError as exc:  # a write failed (disk full, a file-size limit): name where, keep the old report
            if exc.filename is None:
                raise OSError(exc.errno, f"{exc.strerror or exc}; the previous report is left as it was",
                              str(out)) from exc
            raise
        out.mkdir(parents=True, exist_ok=True)
        for path in staged.values():
            os.replace(path, out / path.name)  # each rename is atomic
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {name: out / path.name for name, path in staged.items()}


def _render(run: Run, out: Path) -> dict[str, Path]:
    from . import figures, page, tables
    from .schema import REPORT_TABLES

    out.mkdir(parents=True, exist_ok=True)

    t1, tt, pw = tables.table1(run), tables.timing_table(run), tables.pairwise_table(run)
    paths: dict[str, Path] = {}
    for name, df in (("table1", t1), ("timing", tt), ("pairwise", pw), ("confusion", tables.confusion_counts(run))):
        paths[f"{name}_csv"] = out / f"{name}.csv"
        REPORT_TABLES[name].frame(df).to_csv(paths[f"{name}_csv"], index=False)  # the declared columns only
    paths["table1_md"] = out / "table1.md"
    paths["table1_md"].write_text(page.markdown_table(page.table1_display(t1)) + "\n")

    paths["figure5"] = figures.save(figures.figure5(run), out / "figure5.png")
    paths["figure4"] = figures.save(figures.figure4(run), out / "figure4.png")
    paths["confusion"] = figures.save(figures.confusion_figure(run), out / "confusion.png")
    images = {k: paths[k] for k in ("figure5", "figure4", "confusion")}

    tuned: dict = {}
    if run.tuned:  # the section "What the tuning saw"
        from . import tuning

        tuned = tuning.tables(run)
        for name, df in tuned.items():
            paths[f"{name}_csv"] = out / f"{name}.csv"
            REPORT_TABLES[name].frame(df).to_csv(paths[f"{name}_csv"], index=False)
        for name, fig in tuning.figures(run, tuned).items():
            paths[name] = images[name] = figures.save(fig, out / f"{name}.png")

    files = [p.name for p in paths.values()] + ["report.md", "report.html"]
    blocks = page.page_blocks(run, t1, tt, pw, images, files, tuned)
    paths["report_md"] = out / "report.md"
    paths["report_md"].write_text(page.to_markdown(blocks))
    paths["report_html"] = out / "report.html"
    paths["report_html"].write_text(page.to_html(blocks, title=f"Benchmark report: {run.dir.name}"))
    return paths
