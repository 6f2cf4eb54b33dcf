"""The results store of one run: ``runs/<id>/``, append-only, atomic, resumable.

Layout::

    metadata.json            config, seeds, versions, device, commit (written once, checked on resume)
    splits.json              every (repeat, fold) split as index lists
    parts/<job>/<table>.parquet  one folder per finished job (unit x repeat x fold), renamed into place whole
    folds.csv                one row per unit x repeat x fold            } built from parts/ once, at the
    predictions.csv          one row per test clip per job               } end of a run (or by bench
    epochs.parquet           one row per unit x repeat x fold x epoch    } report when parts are newer);
    iterations.parquet       one row per training iteration              } each by write-then-rename
    epochs.csv, iterations.csv   CSV exports of the two large tables (written by bench run)
    environment.csv          one row per job: the machine it ran on (env_id, host, device, torch, threads, commit)
    tables.json              which jobs the top-level tables hold (written last)

A job is done exactly when its ``parts/<job>`` folder exists: the folder is written under a temporary
name and renamed in one step, so a crash (Ctrl-C, kill -9) leaves either the whole job or none of it,
and a job written twice (a retried task) keeps the first copy. Nothing written is ever modified.

Writing a job touches only its own folder, so job 400 costs what job 1 costs; the top-level tables
are derived files, rebuilt whole from the parts when asked (:meth:`ResultsStore.consolidate`). The
store is generic over table names and columns: whatever tables a job returns are stored and built.
Parts written as CSV by earlier versions are read too, so an older run still resumes.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.atomic import atomic_write

from . import schema

__all__ = ["TABLES", "LARGE_TABLES", "ResultsStore", "RunMismatch", "atomic_write_text"]

TABLES = tuple(schema.TABLES)  # what run_job returns (bench/schema.py; others work too)
LARGE_TABLES = ("epochs", "iterations")  # Parquet at the top level; every other table is a CSV file
MANIFEST = "tables.json"


class RunMismatch(Exception):
    """The run directory holds a run with another config: refuse to mix results."""


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text)


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns mixing types (a string note beside NaN from an old CSV part) as strings."""
    mixed = [c for c in df.columns if df[c].dtype == object and df[c].map(type).nunique() > 1]
    if not mixed:
        return df
    return df.assign(**{c: df[c].map(lambda v: None if v is None or v != v else str(v)) for c in mixed})


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class ResultsStore:
    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.parts = self.dir / "parts"

    # -- run-level files -------------------------------------------------------------------------
    def open(self, metadata: dict, splits: list[dict]) -> None:
        """Create the run, or check that an existing one was started with the same config and splits."""
        self.parts.mkdir(parents=True, exist_ok=True)
        splits = json.loads(json.dumps(splits))  # as stored: tuples become lists
        meta_path, split_path = self.dir / "metadata.json", self.dir / "splits.json"
        if meta_path.exists():
            old = json.loads(meta_path.read_text())
            if old["config"] != metadata["config"]:
                diff = sorted(k for k in set(old["config"]) | set(metadata["config"])
                              if old["config"].get(k) != metadata["config"].get(k))
                raise RunMismatch(f"{self.dir} holds a run with another config (differs in: {', '.join(diff)}); "
                                  "use another --out or the same options to resume")
            if json.loads(split_path.read_text()) != splits:
                raise RunMismatch(f"{self.dir}: the splits differ from the stored ones (the data set changed?)")
            return
        atomic_write_text(split_path, json.dumps(splits))
        atomic_write_text(meta_path, json.dumps(metadata, indent=2, default=str))

    def metadata(self) -> dict:
        return json.loads((self.dir / "metadata.json").read_text())

    def update_metadata(self, **fields) -> None:
        meta = self.metadata()
        meta.update(fields)
        atomic_write_text(self.dir / "metadata.json", json.dumps(meta, indent=2, default=str))

    # -- jobs ------------------------------------------------------------------------------------
    def done(self) -> set[str]:
        if not self.parts.is_dir():
            return set()
        return {p.name for p in self.parts.iterdir() if p.is_dir() and not p.name.startswith(".")}

    def write_job(self, key: str, tables: dict[str, pd.DataFrame]) -> bool:
        """Store one finished job whole; returns False (and stores nothing) if it was already there.

        Touches nothing but ``parts/<key>``: its cost does not grow with the jobs already stored.
        """
        final = self.parts / key
        if final.exists():
            return False
        tmp = Path(tempfile.mkdtemp(dir=self.parts, prefix=f".{key}."))
        try:
            for name, df in tables.items():
                if not df.empty:  # the baseline has no epochs or iterations
                    _parquet_safe(df).to_parquet(tmp / f"{name}.parquet", index=False)
            os.rename(tmp, final)  # atomic; fails if another writer got there first
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if final.exists():
                return False
            raise
        return True

    def read_part(self, key: str, name: str) -> pa.Table | None:
        """One job's table (Parquet, or CSV from an older version), or None if the job has none."""
        folder = self.parts / key
        if (folder / f"{name}.parquet").exists():
            return pq.read_table(folder / f"{name}.parquet")
        if (folder / f"{name}.csv").exists():
            return pa.Table.from_pandas(_parquet_safe(pd.read_csv(folder / f"{name}.csv")), preserve_index=False)
        return None

    def read_parts(self, name: str, keys=None) -> pd.DataFrame:
        """Table ``name`` straight from the parts of ``keys`` (default: every finished job), in key order."""
        table = self._concat_parts(name, keys)
        return table.to_pandas() if table is not None else pd.DataFrame()

    def _concat_parts(self, name: str, keys=None) -> pa.Table | None:
        parts = [t for k in sorted(self.done() if keys is None else keys)
                 if (t := self.read_part(k, name)) is not None and t.num_rows]
        if not parts:
            return None
        try:  # "permissive": a column all-null in one part and typed in another still concatenates
            return pa.concat_tables(parts, promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # e.g. an old CSV part read an empty note as NaN
            df = pd.concat([t.to_pandas() for t in parts], ignore_index=True)
            return pa.Table.from_pandas(_parquet_safe(df), preserve_index=False)

    def environments(self) -> pd.DataFrame:
        """One row per distinct environment among the finished jobs (empty for a new run)."""
        env = self.read_parts("environment")
        return env.drop_duplicates("env_id").reset_index(drop=True) if not env.empty else env

    def table_names(self, keys) -> list[str]:
        """Every table name any of ``keys`` stored, the usual four first."""
        found = {p.stem for k in keys for p in (self.parts / k).iterdir() if p.suffix in (".parquet", ".csv")}
        return [t for t in TABLES] + sorted(found - set(TABLES))

    # -- the top-level tables, derived from the parts ------------------------------------------------
    def is_current(self) -> bool:
        """Whether the top-level tables hold exactly the finished jobs (nothing finished since)."""
        try:
            built = json.loads((self.dir / MANIFEST).read_text())
        except (OSError, ValueError):
            return False
        return sorted(built.get("jobs", [])) == sorted(self.done())

    def consolidate(self, csv: bool = True) -> list[Path]:
        """Build the top-level tables from every finished job, each by write-then-rename; once per run.

        Args:
            csv: also write the CSV exports ``epochs.csv`` and ``iterations.csv`` of the Parquet tables
                (without it, stale exports are removed, so no file lags behind the parts).

        Returns:
            The files written.
        """
        keys = sorted(self.done())
        written = []
        for name in self.table_names(keys):
            table = self._concat_parts(name, keys)
            if name in LARGE_TABLES:
                written.append(self.dir / f"{name}.parquet")
                _write_parquet(table if table is not None else pa.table({}), written[-1])
                if not csv:
                    (self.dir / f"{name}.csv").unlink(missing_ok=True)
                    continue
            written.append(self.dir / f"{name}.csv")
            df = table.to_pandas() if table is not None else pd.DataFrame()
            atomic_write_text(written[-1], df.to_csv(index=False))
        atomic_write_text(self.dir / MANIFEST, json.dumps({"jobs": keys, "files": [p.name for p in written]}))
        return written

    def table(self, name: str) -> pd.DataFrame:
        """A top-level table as last built (Parquet if there is one, else CSV); empty if none."""
        if (self.dir / f"{name}.parquet").exists():
            return pd.read_parquet(self.dir / f"{name}.parquet")
        try:
            return pd.read_csv(self.dir / f"{name}.csv")
        except (FileNotFoundError, pd.errors.EmptyDataError):
            return pd.DataFrame()
