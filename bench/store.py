"""The results store of one run: ``runs/<id>/``, append-only, atomic, resumable.

Layout::

    metadata.json        config, seeds, versions, device, commit (written once, checked on resume)
    splits.json          every (repeat, fold) split as index lists
    parts/<job>/*.csv    one folder per finished job (unit x repeat x fold), renamed into place whole
    folds.csv            one row per unit x repeat x fold      } rebuilt from parts/ after each job,
    epochs.csv           one row per unit x repeat x fold x epoch  } each by write-then-rename
    iterations.csv       one row per timed training iteration  }
    predictions.csv      one row per test clip per job         }
    environment.csv      one row per job: the machine it ran on (env_id, host, device, torch, threads, commit)

A job is done exactly when its ``parts/<job>`` folder exists: the folder is written under a temporary
name and renamed in one step, so a crash (Ctrl-C, kill -9) leaves either the whole job or none of it,
and a job written twice (a retried task) keeps the first copy. Nothing written is ever modified.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from features.atomic import atomic_write

__all__ = ["TABLES", "ResultsStore", "RunMismatch", "atomic_write_text"]

TABLES = ("folds", "epochs", "iterations", "predictions", "environment")


class RunMismatch(Exception):
    """The run directory holds a run with another config: refuse to mix results."""


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text)


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
        """Store one finished job whole; returns False (and stores nothing) if it was already there."""
        final = self.parts / key
        if final.exists():
            return False
        tmp = Path(tempfile.mkdtemp(dir=self.parts, prefix=f".{key}."))
        try:
            for name, df in tables.items():
                if not df.empty:  # the baseline has no epochs or iterations
                    df.to_csv(tmp / f"{name}.csv", index=False)
            os.rename(tmp, final)  # atomic; fails if another writer got there first
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if final.exists():
                return False
            raise
        return True

    def environments(self) -> pd.DataFrame:
        """One row per distinct environment among the finished jobs (empty for a new run)."""
        frames = [pd.read_csv(p) for p in sorted(self.parts.glob("*/environment.csv"))
                  if not p.parent.name.startswith(".")]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True).drop_duplicates("env_id").reset_index(drop=True)

    def consolidate(self) -> None:
        """Rebuild the top-level tables from every finished job (each written atomically)."""
        keys = sorted(self.done())
        for name in TABLES:
            frames = [pd.read_csv(self.parts / k / f"{name}.csv") for k in keys
                      if (self.parts / k / f"{name}.csv").exists()]
            df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            atomic_write_text(self.dir / f"{name}.csv", df.to_csv(index=False))

    def table(self, name: str) -> pd.DataFrame:
        path = self.dir / f"{name}.csv"
        try:
            return pd.read_csv(path)
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
