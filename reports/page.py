"""The report page: one list of blocks rendered twice, as Markdown (``report.md``, images beside it)
and as one self-contained HTML file (``report.html``: inline CSS, images as base64 data URIs, no
external reference of any kind).

Also the human-readable versions of the tables (strings, rounded) used on the page and in ``table1.md``.
"""
from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path

import pandas as pd

from .load import Run
from .paper import PAPER_NAME, REFERENCE_UNIT, label

__all__ = ["visible", "md_escape", "html_text", "table1_display", "timing_display", "pairwise_display",
           "markdown_table", "method_line", "warnings", "page_blocks", "to_markdown", "to_html"]


# -- text a user named (genres, clips, paths, run names), made safe for each format -----------------
def visible(text) -> str:
    """``text`` on one line: control characters (a newline in a file name) shown as ``\\n``, ``\\x1b``, ...

    Args:
        text (object): anything; ``str(text)`` is shown.

    Returns:
        The text with every non-printable character as its Python escape.

    Examples:
        >>> from reports.page import visible
        >>> print(visible("rock\\nroll.wav"))
        rock\\nroll.wav
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|$#!~])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")  # "&amp;" would render as "&": escape the ampersand of an entity


def md_escape(text) -> str:
    """``text`` as literal Markdown: no emphasis, link, image, HTML, math, table cell break or new line.

    Every character Markdown (CommonMark, GitHub's tables and math) gives a meaning is backslash-escaped;
    ``&`` only where it would start an entity; a leading list or heading marker is escaped too.

    Args:
        text (object): anything; shown with :func:`visible` first.

    Returns:
        The escaped text.

    Examples:
        >>> from reports.page import md_escape
        >>> print(md_escape("*hip_hop* [live]"))
        \\*hip\\_hop\\* \\[live\\]
    """
    s = _MD_ENTITY.sub("&amp;", visible(text))
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return re.sub(r"^(\s*)(\d*)([-+.)])(\s|$)", lambda m: f"{m[1]}{m[2]}\\{m[3]}{m[4]}", s)


def html_text(text) -> str:
    """``text`` for HTML: escaped, control characters made visible.

    Args:
        text (object): anything.

    Returns:
        ``html.escape(visible(text))``.
    """
    return html.escape(visible(text))


def _f(x, fmt: str = ".1f", none: str = "–") -> str:
    try:
        return none if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)
    except (TypeError, ValueError):
        return str(x)


# -- tables as strings ---------------------------------------------------------------------------
def _size_cells(r) -> dict:
    """Group, width and parameter count of a row of Table 1 or the timing table (– where there is none)."""
    hidden, params = getattr(r, "hidden", math.nan), getattr(r, "params", math.nan)
    return {"group": getattr(r, "group", ""), "width": _f(hidden, ".0f"),
            "parameters": _f(params, ",.0f"), "MACs/frame": _f(getattr(r, "macs_per_frame", math.nan), ",.0f")}


def table1_display(t1: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as the page shows it: strings, rounded, quoted rows marked.

    Args:
        t1: :func:`reports.tables.table1`'s rows.

    Returns:
        One row of strings per row of ``t1``: method, group, width, parameters, MACs per frame, test
            accuracy (mean +- std, %), the corrected 95 % interval, folds, the mean over finished folds, source.
    """
    rows = []
    for r in t1.itertuples():
        if r.quoted:
            acc, ci, n, done = _f(r.accuracy_mean_pct), "", "", ""
        else:
            acc = _f(r.accuracy_mean_pct) + (f" ± {_f(r.accuracy_std_pct)}" if not math.isnan(r.accuracy_std_pct) else "")
            ci = f"[{_f(r.ci_low_pct)}, {_f(r.ci_high_pct)}]" if not math.isnan(r.ci_low_pct) else "–"
            n = f"{int(r.folds)}" + (f" ({int(r.diverged)} diverged)" if r.diverged else "")
            done = (f"{_f(r.finished_mean_pct)} over {int(r.finished_folds)}" if r.diverged else "same")
        size = {"group": "", "width": "", "parameters": "", "MACs/frame": ""} if r.quoted else _size_cells(r)
        rows.append({"method": r.method, **size, "test accuracy (%)": acc, "95 % interval (corrected)": ci, "folds": n,
                     "finished folds only (%)": done,
                     "source": "quoted, not rerun" if r.quoted else r.source})
    return pd.DataFrame(rows)


def timing_display(tt: pd.DataFrame) -> pd.DataFrame:
    """The timing table as the page shows it: milliseconds, rounded, as strings.

    Args:
        tt: :func:`reports.tables.timing_table`'s rows.

    Returns:
        One row of strings per unit (and environment): median and IQR in ms, ratios to the reference
            unit (measured and the paper's), timed iterations, device, threads, kernel and source.
    """
    ref = f"ratio_to_{REFERENCE_UNIT}"
    sizes = pd.DataFrame([_size_cells(r) for r in tt.itertuples()], columns=["group", "width", "parameters"])
    return pd.DataFrame({
        "unit": tt["method"],
        "group": sizes["group"].to_numpy(),
        "width": sizes["width"].to_numpy(),
        "parameters": sizes["parameters"].to_numpy(),
        "median (ms/iter)": [_f(1e3 * v, ".2f") for v in tt["median_s"]],
        "IQR (ms)": [f"{_f(1e3 * a, '.2f')}–{_f(1e3 * b, '.2f')}" for a, b in zip(tt["q1_s"], tt["q3_s"])],
        f"ratio to {label(REFERENCE_UNIT)}": [_f(v, ".2f") for v in tt[ref]],
        "paper (s/iter)": [_f(v, ".2f") for v in tt["paper_s"]],
        f"paper ratio to {label(REFERENCE_UNIT)}": [_f(v, ".2f") for v in tt[f"paper_ratio_to_{REFERENCE_UNIT}"]],
        "timed iterations": tt["timed_iters"].astype(str),
        "device": tt["device_name"].astype(str) + " (" + tt["device"].astype(str) + ")",
        "threads": tt["threads"].astype(str),
        "kernel (op:kernel:dtype)": tt["kernel"].astype(str),
        "source": tt["source"].astype(str),
    })


def _verdict(r) -> str:
    if math.isnan(r.p):
        return r.note
    a, b = label(r.unit_a), label(r.unit_b)
    if r.p_holm < 0.05:
        return f"real at the 5 % level (Holm): {a if r.diff_pp > 0 else b} is more accurate"
    if r.p < 0.05:
        return "not distinguishable at the 5 % level once the pairs are adjusted (Holm)"
    return "not distinguishable at the 5 % level"


def pairwise_display(pw: pd.DataFrame) -> pd.DataFrame:
    """The pairwise table as the page shows it, with a verdict per pair.

    Args:
        pw: :func:`reports.tables.pairwise_table`'s rows.

    Returns:
        One row of strings per pair: the accuracy difference with its corrected interval, t, p and
            Holm's p, folds, the verdict (from Holm's p at 5 %) and the time ratio.
    """
    rows = []
    for r in pw.itertuples():
        div = [f"{label(u)} {n}" for u, n in ((r.unit_a, r.diverged_a), (r.unit_b, r.diverged_b)) if n]
        rows.append({
            "A vs B": f"{label(r.unit_a)} vs {label(r.unit_b)}",
            "Δ accuracy A−B (pp)": _f(r.diff_pp, "+.1f") + (f" ± {_f(r.diff_std_pp)}" if not math.isnan(r.diff_std_pp) else ""),
            "95 % CI (corrected)": f"[{_f(r.ci_low_pp, '+.1f')}, {_f(r.ci_high_pp, '+.1f')}]" if not math.isnan(r.p) else "–",
            "corrected t (df)": f"{_f(r.t, '.2f')} ({r.df})" if not math.isnan(r.t) else "–",
            "p": _f(r.p, ".3g"),
            "p (Holm)": _f(r.p_holm, ".3g"),
            "folds": str(r.folds) + (f" (diverged: {', '.join(div)})" if div else ""),
            "verdict": _verdict(r),
            "time A/B, median [IQR] over folds": (f"{_f(r.time_ratio_median, '.2f')} [{_f(r.time_ratio_q1, '.2f')}–"
                                                 f"{_f(r.time_ratio_q3, '.2f')}]" if r.time_folds else "–"),
            "source": r.source,
        })
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub pipe table of the string cells of ``df``.

    Args:
        df: the table; every header and cell is escaped with :func:`md_escape`.

    Returns:
        The table's lines, joined by newlines.
    """
    cell = md_escape  # every cell, whoever named it
    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


# -- what the page says --------------------------------------------------------------------------
def method_line(run: Run) -> str:
    """One sentence: how the accuracies and times were obtained (scaffold, width rule and tuning included).

    Args:
        run: the run.

    Returns:
        The sentence that opens the report.
    """
    c = run.config
    if c.get("protocol") == "filtered":
        acc = "Test accuracy on the single artist-filtered train/validation/test split (protocol filtered)"
    elif c.get("protocol") == "file":
        acc = f"Test accuracy on the split(s) of the split file {Path(c.get('split_file') or '?').name} (protocol file)"
    else:
        acc = (f"Test accuracy of each of the {c.get('repeats', '?')} × {c.get('folds', '?')}-fold stratified "
               f"cross-validation folds (protocol cv)")
    if run.tuned:
        acc += f", {run.tuned_label}; each trial"
        readout = f"the classifier's readout ({'/'.join(c.get('tune_readouts') or ['?'])}) is tuned with the rest"
    else:
        acc += ","
        readout = f"the classifier reads the {run.readout}"
    return (f"{acc} with the weights of the epoch of lowest validation loss; {readout}; scaffold: "
            f"{run.scaffold}; {run.width_rule}; tuning: {run.tuning}; time = median seconds per training "
            f"iteration (forward + backward + Adam step on a batch of {c.get('batch_size', '?')} already on the "
            f"device; {run.execution}) after {c.get('warmup_iters', '?')} warm-up iterations, partial batches "
            f"left out, on {run.device_name} with {run.threads} threads.{_compute_dtypes(run)}")


def _compute_dtypes(run: Run) -> str:
    """Under bf16, the dtype each unit's recurrence computed in (recorded per job): autocast lowers
    each library's operations differently, so the units do not all run in bfloat16."""
    if run.config.get("precision") != "bf16":
        return ""
    parts = []
    for unit in run.recurrent_units:
        dtypes = sorted({k.split(":")[-1] for entry in run.kernels(unit).split(" | ") for k in entry.split(";")
                         if k.count(":") == 2})
        parts.append(f"{label(unit)} {'/'.join(dtypes) if dtypes else 'not recorded'}")
    return (" Under bf16 autocast the matrix products run in bfloat16, and the recurrences in: " + ", ".join(parts)
            + " (recorded per job; the timing table names each kernel).")


def warnings(run: Run) -> list[str]:
    """What a reader must know before trusting the page.

    Args:
        run: the run.

    Returns:
        One sentence per problem found: generated rows, an unfinished run, jobs missing (damaged parts),
            units without a finished job, diverged folds, several environments, uncommitted code.
    """
    out = []
    if run.generated:
        out.append("GENERATED, NOT MEASURED: this run directory is a rehearsal store (python -m bench.results.rehearsal). Its "
                   "accuracies are random draws and its times are the paper's seconds with noise: no figure, table "
                   "or number below was measured.")
    if not run.finished:
        jobs = run.metadata.get("jobs")
        have = len(run.folds)
        out.append(f"This run is unfinished (no 'finished' time in metadata.json): {have}"
                   + (f" of {jobs}" if jobs else "") + " jobs are reported.")
    elif run.metadata.get("jobs") and len(run.folds) < run.metadata["jobs"]:
        moved = run.dir / "parts.damaged"
        damaged = sorted(p.name for p in moved.iterdir()) if moved.is_dir() else []
        out.append(f"Only {len(run.folds)} of {run.metadata['jobs']} jobs are reported"
                   + (f": {len(damaged)} damaged part(s) were moved to parts.damaged/ ({', '.join(damaged)}); "
                      "the next bench run reruns their jobs." if damaged else "."))
    if run.missing_units:
        out.append(f"No job of {', '.join(label(u) for u in run.missing_units)} finished: listed in Table 1 without "
                   "a result, absent from the figures and tests.")
    div = run.folds[run.folds["diverged"]]
    if len(div):
        which = ", ".join(f"{label(r.unit)} repeat {r.repeat} fold {r.fold}" for r in div.itertuples())
        out.append(f"{len(div)} fold(s) diverged: {which}. Each counts as a failed fold at chance accuracy in "
                   "every mean, interval and test; Table 1 also gives the mean over finished folds only.")
    if len(run.env_ids) > 1:
        out.append(f"The jobs of this run ran in {len(run.env_ids)} environments (resumed with --allow-mixed): "
                   "the timing table has one row per unit and environment; do not compare times across them.")
    commit = str(run.environment.get("commit") or "")
    if commit.endswith("+dirty"):
        out.append("The code had uncommitted changes when the run started (commit ends in +dirty).")
    return out


def _skipped_line(s) -> str:
    """One skipped clip: its reason, which names the path already ("path: path: reason" otherwise)."""
    if isinstance(s, (list, tuple)) and len(s) > 1:
        path, reason = str(s[0]), str(s[1])
        return reason if reason.startswith(path) else f"{path}: {reason}"
    return str(s)


def _kv(d: dict) -> pd.DataFrame:
    return pd.DataFrame({"key": list(d), "value": [str(v) for v in d.values()]})


def page_blocks(run: Run, t1: pd.DataFrame, tt: pd.DataFrame, pw: pd.DataFrame, images: dict[str, Path],
                files: list[str], tuned: dict[str, pd.DataFrame] | None = None) -> list[tuple[str, object]]:
    """The page as (kind, content) blocks: h1, h2, p, warn, table (DataFrame of strings), img, list.

    ``tuned``: the tables of :func:`reports.tuning.tables` for a tuned run (its figures in ``images``),
    which add the section "What the tuning saw".

    Args:
        run: the run.
        t1: :func:`reports.tables.table1`.
        tt: :func:`reports.tables.timing_table`.
        pw: :func:`reports.tables.pairwise_table`.
        images: figure name (``figure5``, ``figure4``, ``confusion``, the tuning figures) -> PNG file.
        files: the names of the report's files, listed at its end.
        tuned: the tuning section's tables, or None.

    Returns:
        The blocks, in page order, for :func:`to_markdown` and :func:`to_html`.
    """
    c, env, feat = run.config, run.environment, run.metadata.get("features") or {}
    tag = f" ({run.tuned_label})" if run.tuned else ""  # what a tuned run's accuracies are
    b: list[tuple[str, object]] = [("h1", f"Benchmark report: {run.dir.name}")]
    b.append(("p", "How the numbers were obtained: " + method_line(run)))
    b += [("warn", w) for w in warnings(run)]

    b.append(("h2", "Table 1: mean test accuracy" + tag))
    b.append(("table", table1_display(t1)))
    b.append(("p", f"Measured rows: mean ± standard deviation over every fold and repeat of this run, on the "
                   f"{c.get('dataset', '?')} data set; a fold that diverged (non-finite loss) stays in as a failed "
                   "fold at chance accuracy (1 / genres), and the last column gives the mean over finished folds "
                   "only. The interval is the 95 % interval of the mean with the corrected resampled variance of "
                   "Nadeau & Bengio (2003), (1/n + n_test/n_train) · var: folds of repeated cross-validation share "
                   f"training data, so treating them as independent would be over-confident. Quoted rows are copied "
                   f"from {PAPER_NAME}'s Table 1, not rerun (other features, splits and hardware)."
                   + (" Tuned run: each fold's accuracy is the test accuracy of the trial chosen on validation "
                      "accuracy among its trials (What the tuning saw, below)." if run.tuned else "")))

    b.append(("h2", "Figure 5: accuracy and training time per iteration" + tag))
    b.append(("img", (images["figure5"], "Figure 5")))
    b.append(("p", f"(a) Bars: mean test accuracy over every fold (a diverged fold at chance, its count under "
                   "the value), error bars: the corrected 95 % interval of Table 1; "
                   f"black diamonds: {PAPER_NAME}'s Figure 5, not rerun. (b) Median milliseconds per training "
                   "iteration, bars = interquartile range over all timed iterations; the paper's seconds are "
                   "quoted as text, since absolute times depend on the hardware. (c) Time per iteration relative "
                   f"to {label(REFERENCE_UNIT)} on the same fold, median and IQR over folds, against the paper's ratios."))

    b.append(("h2", "Training time per iteration"))
    if len(tt):
        b.append(("table", timing_display(tt)))
        b.append(("p", "Warm-up iterations excluded; median and quartiles pool every timed iteration of every "
                       f"fold; ratio = unit's median / {label(REFERENCE_UNIT)}'s median (– when "
                       f"{label(REFERENCE_UNIT)} is not in the run). The baseline trains no iterations."))
    else:
        b.append(("p", "No recurrent unit in this run: nothing was timed."))

    b.append(("h2", "Pairwise comparison" + tag))
    b.append(("table", pairwise_display(pw)))
    b.append(("p", "Δ = accuracy of A minus accuracy of B on the same folds (percentage points, mean ± std over "
                   "folds). Folds of repeated cross-validation share training data, so the test is the corrected "
                   "resampled t-test of Nadeau & Bengio (2003): t = mean / sqrt((1/n + n_test/n_train) · var), "
                   f"df = n − 1; the interval uses the same corrected variance. All {len(pw)} pairs of the "
                   f"{len(run.units)} methods are tested (paper units, modern units and the baseline alike). "
                   "A fold on which a unit diverged enters "
                   "as chance accuracy for that unit (counted in the folds column). p (Holm): the p value after "
                   "Holm's step-down adjustment over every tested pair of this table; the verdict uses it. Time "
                   "A/B: ratio of the two units' median time per iteration on each fold."))

    b.append(("h2", "Figure 4: validation AUC-ROC per epoch"))
    b.append(("img", (images["figure4"], "Figure 4")))
    b.append(("p", "Macro one-vs-rest AUC-ROC on each fold's validation part after each epoch; line = mean over "
                   "folds, band = 95 % interval with the corrected resampled variance (n_val / n_train). Early stopping ends folds at different epochs, so late "
                   "epochs average fewer folds."))

    b.append(("h2", "Confusion matrices"))
    b.append(("img", (images["confusion"], "Confusion matrices")))

    if tuned:
        from .tuning import section  # matplotlib and Optuna only for a tuned run

        b += section(run, tuned, images)

    b.append(("h2", "Run"))
    b.append(("p", f"Run directory {run.dir}; started {run.metadata.get('started', '?')}, finished "
                   f"{run.metadata.get('finished', 'never (unfinished)')}; {len(run.folds)} of "
                   f"{run.metadata.get('jobs', '?')} jobs."))
    b.append(("table", _kv(c)))
    b.append(("h2", "Data set"))
    skipped = feat.get("skipped") or []
    b.append(("table", _kv({"data set": c.get("dataset"), "data dir": c.get("data_dir"),
                            "features (clips, frames, channels)": feat.get("shape"), "genres": ", ".join(run.genres),
                            "feature config": feat.get("config"), "fingerprint": feat.get("fingerprint"),
                            "skipped clips": len(skipped)})))
    if skipped:
        b.append(("list", [_skipped_line(s) for s in skipped]))
    b.append(("h2", "Machine and versions"))
    b.append(("table", _kv({k: env.get(k) for k in ("device", "device_name", "cpu", "torch_threads", "cuda",
                                                    "python", "platform", "commit")}
                           | {f"version of {k}": v for k, v in (env.get("versions") or {}).items()})))
    b.append(("h2", "Files"))
    b.append(("list", files))
    return b


# -- renderers -----------------------------------------------------------------------------------
def to_markdown(blocks) -> str:
    """The page as Markdown; every text is escaped (:func:`md_escape`): blocks hold plain text only.

    Args:
        blocks (list[tuple[str, object]]): :func:`page_blocks`' result.

    Returns:
        ``report.md``'s text; images are referred to by file name (they sit beside it).
    """
    e = md_escape
    out = []
    for kind, x in blocks:
        if kind == "h1":
            out.append(f"# {e(x)}")
        elif kind == "h2":
            out.append(f"## {e(x)}")
        elif kind == "p":
            out.append(e(x))
        elif kind == "warn":
            out.append(f"> **Warning:** {e(x)}")
        elif kind == "table":
            out.append(markdown_table(x))
        elif kind == "img":
            path, alt = x
            out.append(f"![{e(alt)}]({Path(path).name})")
        elif kind == "list":
            out.append("\n".join(f"- {e(v)}" for v in x))
    return "\n\n".join(out) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:left}th{background:#f3f3f3}img{max-width:100%}.warn{background:#fff4e5;border-left:4px solid #f90;
padding:.5em 1em}p{line-height:1.45}"""


def to_html(blocks, title: str) -> str:
    """A self-contained page: styles inline, images embedded as data: URIs.

    Args:
        blocks (list[tuple[str, object]]): :func:`page_blocks`' result (the images are read now).
        title: the page's title.

    Returns:
        ``report.html``'s text, with no external reference of any kind.
    """
    e = html_text
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
           f"<style>{_CSS}</style></head><body>"]
    for kind, x in blocks:
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{e(str(x))}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(str(x))}</p>")
        elif kind == "warn":
            out.append(f"<p class=\"warn\"><strong>Warning:</strong> {e(str(x))}</p>")
        elif kind == "table":
            out.append(x.map(visible).rename(columns=visible).to_html(index=False, escape=True, border=0))
        elif kind == "img":
            path, alt = x
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            out.append(f"<figure><img alt=\"{e(alt)}\" src=\"data:image/png;base64,{data}\"></figure>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{e(str(v))}</li>" for v in x) + "</ul>")
    out.append("</body></html>\n")
    return "\n".join(out)
