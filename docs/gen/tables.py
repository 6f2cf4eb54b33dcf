"""The table reference: the columns of every table a run writes, from :mod:`bench.results.schema` (the
declaration :func:`bench.execution.jobs.run_job` builds its tables through) and :mod:`reports.schema` (the
same for the report's CSV tables, written by :func:`reports.render`)."""
from __future__ import annotations

from bench.results.schema import TABLES
from bench.results.store import LARGE_TABLES
from reports.schema import REPORT_TABLES

from .markdown import GENERATED, code, escape, table

__all__ = ["tables_page"]


def tables_page() -> str:
    out = [GENERATED.format(source="`bench/results/schema.py` and `reports/schema.py`"), "# Tables of a run\n\n",
           "The tidy tables `bench run` writes into `runs/<id>/`, one row per observation (long format, as "
           "pandas and seaborn read them). Each job writes its rows into `parts/<job>/<table>.parquet`; the "
           "top-level files are built from the parts at the end of a run (or by `bench report`). "
           + ", ".join(code(t) for t in LARGE_TABLES) + " are Parquet at the top level, with CSV exports "
           "beside them; the others are CSV. The first three columns, `unit`, `repeat` and `fold`, name the job "
           "in every table. How the files fit together: [The results store](../store.md).\n\n"]
    out += [_table(t) for t in TABLES.values()]
    out.append("## The report's tables\n\n`bench report` (run at the end of `bench run`) writes these from the tables "
               "above into `runs/<id>/report/`; how to read them: [Reports](../reports.md).\n\n")
    out += [_table(t, level="###") for t in REPORT_TABLES.values()]
    return "".join(out)


def _table(t, level: str = "##") -> str:
    return (f"{level} {t.name}\n\n{t.files}: one row per {escape(t.row)}.\n\n"
            + table(["column", "type", "meaning"], [[code(c.name), c.type, c.meaning] for c in t.columns]) + "\n")
