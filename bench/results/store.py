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

Every part is verifiable and knows its run: ``parts/<job>/part.json`` holds the run's id (a hash of
its config), and each table file's row count and SHA-256. A part is checked whenever it is read; a
part whose files do not match (truncated, overwritten, half-copied) is named in a warning and moved
to ``parts.damaged/``, so its job runs again on the next ``bench run`` and the top-level tables are
built from the intact parts. A part of another run (another id) is refused by name even when
``metadata.json`` is gone. ``tables.json`` holds the checksums of the top-level tables, so a damaged
top-level table is rebuilt from the parts. Nothing is deleted before its replacement exists: every
file is written under a temporary name and renamed over the old one.

One writer at a time: the commands that write a run directory hold its lock (:mod:`bench.results.runlock`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.atomic import atomic_write

from . import schema

__all__ = ["metadata_seal", "TABLES", "LARGE_TABLES", "ResultsStore", "RunMismatch", "DamagedPart", "atomic_write_text",
           "config_hash"]

log = logging.getLogger(__name__)

TABLES = tuple(schema.TABLES)  # what run_job returns (bench/results/schema.py; others work too)
"""The names of the tables a job returns, in the order they are built (:data:`bench.results.schema.TABLES`);
the store keeps any other table a job returns too."""
OPTIONAL_TABLES = ("trials",)  # written by tuned runs only (--tune): no empty file in a run without it
LARGE_TABLES = ("epochs", "iterations")  # Parquet at the top level; every other table is a CSV file
"""The tables built as Parquet at the top level (``bench run`` adds CSV exports); every other is a CSV file."""
MANIFEST = "tables.json"
PART_MANIFEST = "part.json"  # in each part: the run it belongs to, each file's rows and SHA-256
DAMAGED = "parts.damaged"


class RunMismatch(Exception):
    """The run directory holds a run with another config: refuse to mix results.

    Also raised for other input data or splits, parts of another run, and (``bench run``) jobs timed in
    another environment; the message says which, and what to do.
    """


class DamagedPart(Exception):
    """A job's part does not match its own record (truncated, overwritten, unreadable)."""


def config_hash(config: dict) -> str:
    """The identity of a run: a hash of its configuration (the same hash names its default directory).

    Args:
        config: the configuration as stored (:meth:`bench.config.RunConfig.to_dict`).

    Returns:
        16 hex digits of the SHA-256 of its sorted JSON.
    """
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str | None:
    try:
        return _sha256(path.read_bytes())
    except OSError:
        return None


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (:func:`features.atomic.atomic_write`).

    Args:
        path: the file; its folder must exist.
        text: the new content.
    """
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
    except OSError as exc:
        if getattr(exc, "filename", None) is None:  # pyarrow's I/O errors name no file
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def metadata_seal(metadata: dict) -> str:
    """A hash of what a run's ``metadata.json`` must never change after the run starts (its config and the
    description of its features: fingerprint, classes, shape), stored beside them as ``seal``; a report
    refuses a file whose seal no longer matches (edited by hand).

    Args:
        metadata: the run's metadata (its ``config``, ``features`` and ``jobs`` are hashed).

    Returns:
        16 hex digits.
    """
    fixed = {"config": metadata.get("config"), "features": metadata.get("features"), "jobs": metadata.get("jobs")}
    return hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _inputs(metadata: dict) -> dict:
    """What identifies a run's input data in its metadata: the features' fingerprint (every input file's
    path, size and modification time), feature options and classes; {} when not recorded."""
    features = metadata.get("features") or {}
    picked = {k: features[k] for k in ("fingerprint", "config", "genres") if k in features}
    return json.loads(json.dumps(picked, default=str))  # as stored: tuples become lists


class ResultsStore:
    """The results of one run directory: what ``bench run`` writes, job by job, and reads back.

    A run directory holds ``metadata.json`` (the configuration, the features' description, the
    environment and every session; sealed when the run starts), ``splits.json``, one folder per finished
    job under ``parts/<job>/`` (each of its tables as Parquet, and ``part.json``: the run's id and each
    file's rows and SHA-256), and the top-level tables built from the parts: ``folds.csv``,
    ``epochs.parquet``, ``iterations.parquet``, ``predictions.csv``, ``environment.csv`` (and
    ``trials.csv`` for a tuned run), the CSV exports of the two Parquet tables, and ``tables.json``
    (which jobs the tables hold, with their checksums). The store page of the documentation lists every
    file; the columns of each table are in :data:`bench.results.schema.TABLES`.

    Writing: :meth:`open` creates the run, or checks that the directory holds this same run;
    :meth:`write_job` stores one job whole and atomically, touching nothing but its own folder;
    :meth:`consolidate` builds the top-level tables from every intact part (a damaged part is moved to
    ``parts.damaged/``, and its job runs again on the next ``bench run``). One writer at a time: the
    commands hold :func:`bench.results.runlock.run_lock` while they write.

    Reading: :meth:`table` reads a top-level table as last built; :meth:`read_parts` reads a table
    straight from the parts, for a run still running or interrupted (its top-level tables are built at
    its end); :meth:`is_current` says whether the built tables hold every finished job. A finished run
    read for analysis, every file checked: :func:`reports.load_run`.

    Args:
        run_dir: the run directory; nothing is read or created before a method needs it.

    Attributes:
        dir: the run directory.
        parts: its ``parts/`` folder.

    Examples:
        A store of four generated jobs (``bench.results.rehearsal``) stands in for a run here:

        >>> import tempfile
        >>> from bench.results.rehearsal import write_rehearsal
        >>> from bench.results.store import ResultsStore
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = write_rehearsal(tmp.name, jobs=4, checkpoints=(), size={"epochs": 3, "iters_per_epoch": 2})
        >>> store = ResultsStore(tmp.name)
        >>> sorted(store.done())
        ['gru-r00-f00', 'indrnn-r00-f00', 'lstm-r00-f00', 'rnn-r00-f00']
        >>> store.read_parts("folds")[["unit", "repeat", "fold", "test_acc"]].shape  # from the parts
        (4, 4)
        >>> store.is_current()  # no top-level table built yet
        False
        >>> [p.name for p in store.consolidate()][:3]
        ['folds.csv', 'epochs.parquet', 'epochs.csv']
        >>> store.table("folds")["unit"].tolist(), len(store.table("iterations"))
        (['gru', 'indrnn', 'lstm', 'rnn'], 24)
        >>> tmp.cleanup()
    """

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.parts = self.dir / "parts"
        self._run_id: str | None = None

    # -- run-level files -------------------------------------------------------------------------
    @property
    def run_id(self) -> str | None:
        """The run's identity (hash of its config), from :meth:`open` or ``metadata.json``; None if neither."""
        if self._run_id is None:
            try:
                meta = self.metadata()
                self._run_id = meta.get("run_id") or config_hash(meta["config"])
            except (OSError, ValueError, KeyError, TypeError):
                return None
        return self._run_id

    def open(self, metadata: dict, splits: list[dict]) -> list[str]:
        """Create the run, or check that an existing one was started with the same config and splits.

        Every stored part is verified: a part of another run is refused by name (even with
        ``metadata.json`` gone); a damaged one is moved to ``parts.damaged/`` (its job then runs again).
        Temporary files of a writer killed mid-way are removed.

        Args:
            metadata: the run's metadata, with its ``config`` (the run's identity) and, when known,
                ``features`` (the inputs' fingerprint, options and classes); written as
                ``metadata.json`` with ``run_id`` and ``seal`` when the run is new.
            splits: every split as a dict (:meth:`bench.protocol.splits.Split.to_dict`), written as ``splits.json``.

        Returns:
            The keys of the parts moved aside as damaged.

        Raises:
            RunMismatch: the directory holds a run of another configuration, other input data or other
                splits, an unreadable ``metadata.json``, or parts of another run.
        """
        self.parts.mkdir(parents=True, exist_ok=True)
        # temporaries of a writer killed mid-way (kill -9): the run's lock is held, so none is being written
        for tmp in self.dir.glob(".*.tmp"):  # a table or metadata file (write-then-rename)
            tmp.unlink(missing_ok=True)
        for tmp in self.parts.glob(".*"):  # a part being written (".<job>.<pid>.<id>/"), never renamed
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        splits = json.loads(json.dumps(splits))  # as stored: tuples become lists
        meta_path, split_path = self.dir / "metadata.json", self.dir / "splits.json"
        run_id = config_hash(metadata["config"])
        had_metadata = meta_path.exists()
        if had_metadata:
            try:
                old = json.loads(meta_path.read_text())
                old_config = old["config"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise RunMismatch(f"{meta_path} cannot be read ({exc}); its run cannot be identified: move it "
                                  "away to start a new run here, or use another --out") from None
            if old_config != metadata["config"]:
                diff = sorted(k for k in set(old_config) | set(metadata["config"])
                              if old_config.get(k) != metadata["config"].get(k))
                changes = _plugin_changes(old_config, metadata["config"])
                raise RunMismatch(f"{self.dir} holds a run with another config (differs in: {', '.join(diff)}"
                                  f"{changes}); use another --out or the same options"
                                  f"{' and plugin code' if changes else ''} to resume")
            old_inputs, inputs = _inputs(old), _inputs(metadata)
            if old_inputs and inputs and old_inputs != inputs:
                what = ", ".join(k for k in inputs if old_inputs.get(k) != inputs[k])
                raise RunMismatch(f"{self.dir} was started on other input data (its {what} differ: a clip or a class "
                                  "was added, changed, renamed or removed since); its results would mix with these. "
                                  "Use another --out, or restore the data to resume")
            if split_path.exists() and json.loads(split_path.read_text()) != splits:
                raise RunMismatch(f"{self.dir}: the splits differ from the stored ones (the data set changed?)")
        self._run_id = run_id
        damaged = self.check_parts(legacy_ok=had_metadata)
        if not split_path.exists():
            atomic_write_text(split_path, json.dumps(splits))
        if not had_metadata:
            stored = json.loads(json.dumps(metadata, default=str))  # as it will read back
            atomic_write_text(meta_path, json.dumps({**stored, "run_id": run_id, "seal": metadata_seal(stored)},
                                                    indent=2))
        return damaged

    def metadata(self) -> dict:
        """The run's ``metadata.json``.

        Returns:
            Its content.

        Raises:
            OSError: the file is missing or unreadable.
            ValueError: it is not valid JSON.
        """
        return json.loads((self.dir / "metadata.json").read_text())

    def update_metadata(self, **fields) -> None:
        """Set top-level keys of ``metadata.json`` (rewritten whole, atomically).

        Args:
            **fields (Any): the keys and their new values (``finished``, ``sessions``, ...).
        """
        meta = self.metadata()
        meta.update(fields)
        atomic_write_text(self.dir / "metadata.json", json.dumps(meta, indent=2, default=str))

    # -- jobs ------------------------------------------------------------------------------------
    def done(self) -> set[str]:
        """The finished jobs: a job is done exactly when its ``parts/<key>`` folder exists.

        Returns:
            Their keys (``<unit>-rNN-fNN``); empty for a new run.
        """
        if not self.parts.is_dir():
            return set()
        return {p.name for p in self.parts.iterdir() if p.is_dir() and not p.name.startswith(".")}

    def write_job(self, key: str, tables: dict[str, pd.DataFrame]) -> bool:
        """Store one finished job whole; returns False (and stores nothing) if it was already there.

        Touches nothing but ``parts/<key>``: its cost does not grow with the jobs already stored.
        Beside the tables, ``part.json`` records the run id and each file's rows and SHA-256.

        Args:
            key: the job's key.
            tables: table name -> its rows (an empty table is not written).

        Returns:
            True if stored, False if the job was already there (the first copy is kept).
        """
        final = self.parts / key
        if final.exists():
            return False
        tmp = self.parts / f".{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        tmp.mkdir()  # the umask's mode, like every other folder of the run
        try:
            record = {"run": self.run_id, "job": key, "tables": {}}
            for name, df in tables.items():
                if not df.empty:  # the baseline has no epochs or iterations
                    path = tmp / f"{name}.parquet"
                    _parquet_safe(df).to_parquet(path, index=False)
                    record["tables"][name] = {"file": path.name, "rows": len(df), "sha256": _file_sha256(path)}
            (tmp / PART_MANIFEST).write_text(json.dumps(record, indent=1))
            os.rename(tmp, final)  # atomic; fails if another writer got there first
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if final.exists():
                return False
            raise
        return True

    def _part_record(self, key: str) -> dict | None:
        """``parts/<key>/part.json``, or None for a part written before parts had one."""
        path = self.parts / key / PART_MANIFEST
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
            if not isinstance(record.get("tables"), dict):
                raise ValueError("no 'tables' entry")
            return record
        except (OSError, ValueError, AttributeError) as exc:
            raise DamagedPart(f"parts/{key}/{PART_MANIFEST} cannot be read ({exc})") from None

    def read_part(self, key: str, name: str) -> pa.Table | None:
        """One job's table (Parquet, or CSV from an older version), or None if the job has none.

        Args:
            key: the job's key.
            name: the table's name.

        Returns:
            The table (checked against the part's record), or None.

        Raises:
            DamagedPart: the file's bytes or rows differ from the part's record, or it cannot be parsed.
        """
        folder = self.parts / key
        record = self._part_record(key)
        if record is not None:
            entry = record["tables"].get(name)
            if entry is None:
                return None
            try:
                data = (folder / entry["file"]).read_bytes()
            except OSError as exc:
                raise DamagedPart(f"parts/{key}/{entry['file']} cannot be read ({exc.strerror})") from None
            if _sha256(data) != entry["sha256"]:
                raise DamagedPart(f"parts/{key}/{entry['file']} does not match its checksum "
                                  f"({len(data)} bytes; truncated or overwritten?)")
            table = pq.read_table(pa.BufferReader(data))
            if table.num_rows != entry["rows"]:
                raise DamagedPart(f"parts/{key}/{entry['file']} holds {table.num_rows} rows, "
                                  f"its record says {entry['rows']}")
            return table
        try:  # a part of an older version: no record, so it is checked by parsing it
            if (folder / f"{name}.parquet").exists():
                return pq.read_table(folder / f"{name}.parquet")
            if (folder / f"{name}.csv").exists():
                return pa.Table.from_pandas(_parquet_safe(pd.read_csv(folder / f"{name}.csv")), preserve_index=False)
        except (OSError, pa.ArrowException, ValueError, pd.errors.ParserError) as exc:
            raise DamagedPart(f"parts/{key}/{name} cannot be parsed ({exc})") from None
        return None

    def verify_part(self, key: str, deep: bool = True) -> tuple[str, str]:
        """``(state, detail)``: state is ``ok``, ``foreign`` (another run's; detail = its id),
        ``unknown`` (an older part without a record) or ``damaged`` (detail = what is wrong).
        ``deep=False`` reads the part's record only, not its tables.

        Args:
            key: the job's key.
            deep: read and check every table file too.

        Returns:
            ``(state, detail)``.
        """
        try:
            record = self._part_record(key)
            if record is None:
                for name in self.table_names([key]) if deep else ():
                    self.read_part(key, name)
                return "unknown", ""
            if self.run_id is not None and record.get("run") != self.run_id:
                return "foreign", str(record.get("run"))
            for name in record["tables"] if deep else ():
                self.read_part(key, name)
        except DamagedPart as exc:
            return "damaged", str(exc)
        return "ok", ""

    def quarantine(self, key: str, why: str) -> Path:
        """Move a damaged part to ``parts.damaged/`` (its job is then no longer done), with a warning.

        Args:
            key: the job's key.
            why: what is wrong, for the warning.

        Returns:
            Where the part went (``parts.damaged/<key>``, or ``<key>.N`` beside an earlier one).
        """
        dest_dir = self.dir / DAMAGED
        dest_dir.mkdir(exist_ok=True)
        dest, n = dest_dir / key, 1
        while dest.exists():
            dest, n = dest_dir / f"{key}.{n}", n + 1
        os.rename(self.parts / key, dest)
        log.warning("damaged part: %s; moved to %s, its job runs again on the next bench run",
                    why, dest.relative_to(self.dir))
        return dest

    def check_parts(self, legacy_ok: bool = True, deep: bool = True) -> list[str]:
        """Verify every part: refuse another run's parts, move damaged ones aside (returns their keys).

        Args:
            legacy_ok: accept parts without a record (older versions) as this run's; False when the
                run's ``metadata.json`` is gone, so nothing vouches for them.
            deep: read and check every table file too (else the records only).

        Returns:
            The keys of the parts moved aside as damaged.

        Raises:
            RunMismatch: parts of another run, or (``legacy_ok`` False) parts without a record.
        """
        foreign, unknown, damaged = {}, [], []
        for key in sorted(self.done()):
            state, detail = self.verify_part(key, deep)
            if state == "foreign":
                foreign[key] = detail
            elif state == "unknown" and not legacy_ok:
                unknown.append(key)
            elif state == "damaged":
                self.quarantine(key, detail)
                damaged.append(key)
        if foreign:
            first = next(iter(foreign))
            raise RunMismatch(f"{self.parts}: part(s) {_listing(list(foreign))} belong to run {foreign[first]}, "
                              f"not to this one ({self.run_id}): another config wrote them. Use another --out, "
                              "or the options of that run to resume it")
        if unknown:
            raise RunMismatch(f"{self.parts}: part(s) {_listing(unknown)} carry no run record and "
                              f"{self.dir / 'metadata.json'} is missing, so nothing says which config wrote them. "
                              "Use another --out, or move parts/ away")
        return damaged

    def read_parts(self, name: str, keys=None) -> pd.DataFrame:
        """Table ``name`` straight from the parts of ``keys`` (default: every finished job), in key order.

        What to read while a run is still running, or after it was interrupted: the top-level tables
        are built only at its end.

        Args:
            name: the table's name (``folds``, ``epochs``, ``iterations``, ``predictions``, ...).
            keys (Iterable[str] | None): the jobs to read; None reads every finished one.

        Returns:
            The rows of every part that has the table, concatenated; empty if none has.

        Raises:
            DamagedPart: a part's file does not match its record.
        """
        table = self._concat_parts(name, keys)
        return table.to_pandas() if table is not None else pd.DataFrame()

    def _concat_parts(self, name: str, keys=None) -> pa.Table | None:
        return _concat([t for k in sorted(self.done() if keys is None else keys)
                        if (t := self.read_part(k, name)) is not None and t.num_rows])

    def environments(self) -> pd.DataFrame:
        """One row per distinct environment among the finished jobs (empty for a new run).

        Returns:
            Rows of the ``environment`` table, one per ``env_id``.
        """
        env = self.read_parts("environment")
        return env.drop_duplicates("env_id").reset_index(drop=True) if not env.empty else env

    def table_names(self, keys) -> list[str]:
        """Every table name any of ``keys`` stored, the usual four first.

        Args:
            keys (Iterable[str]): job keys.

        Returns:
            The names of :data:`TABLES` (``trials`` only when one of the jobs has it), then any other
                table found, sorted.
        """
        found = {p.stem for k in keys for p in (self.parts / k).iterdir() if p.suffix in (".parquet", ".csv")}
        return [t for t in TABLES if t not in OPTIONAL_TABLES or t in found] + sorted(found - set(TABLES))

    # -- the top-level tables, derived from the parts ------------------------------------------------
    def is_current(self) -> bool:
        """Whether the top-level tables hold exactly the finished jobs (nothing finished since) and
        every one of them still has the checksum it was written with.

        Returns:
            False when no table was built, a job finished since, or a built file changed.
        """
        try:
            built = json.loads((self.dir / MANIFEST).read_text())
            files = built["files"]
            if not isinstance(files, dict):  # an older manifest without checksums: rebuild once
                return False
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if sorted(built.get("jobs", [])) != sorted(self.done()):
            return False
        return all(_file_sha256(self.dir / name) == digest for name, digest in files.items())

    def has_exports(self) -> bool:
        """Whether the CSV exports of the large tables exist (a run killed before its end has none).

        Returns:
            True when ``epochs.csv`` and ``iterations.csv`` both exist.
        """
        return all((self.dir / f"{name}.csv").exists() for name in LARGE_TABLES)

    def consolidate(self, csv: bool = True) -> list[Path]:
        """Build the top-level tables from every intact finished job, each by write-then-rename.

        Damaged parts are moved aside first (:meth:`check_parts`). Nothing is deleted: each file is
        replaced only once its new version is complete.

        Args:
            csv: write the CSV exports ``epochs.csv`` and ``iterations.csv`` of the Parquet tables
                (without it, exports already there are rewritten, never left behind the parts).

        Returns:
            The files written; none when no job is intact and tables were built before (those are then
                the only copy and are kept).

        Raises:
            RunMismatch: parts of another run are in ``parts/``.
        """
        self.check_parts(deep=False)  # another run's parts refused; each part's files are checked as read below
        intact: dict[str, dict[str, pa.Table]] = {}
        for key in sorted(self.done()):
            try:
                intact[key] = {name: t for name in self.table_names([key])
                               if (t := self.read_part(key, name)) is not None and t.num_rows}
            except DamagedPart as exc:
                self.quarantine(key, str(exc))
        keys = sorted(intact)
        if not keys and (self.dir / "folds.csv").exists():  # never replace built tables by empty ones
            return []
        written = []
        for name in self.table_names(keys):
            table = _concat([intact[k][name] for k in keys if name in intact[k]])
            if name in LARGE_TABLES:
                written.append(self.dir / f"{name}.parquet")
                _write_parquet(table if table is not None else pa.table({}), written[-1])
                if not csv and not (self.dir / f"{name}.csv").exists():
                    continue
            written.append(self.dir / f"{name}.csv")
            df = table.to_pandas() if table is not None else pd.DataFrame()
            atomic_write_text(written[-1], df.to_csv(index=False))
        atomic_write_text(self.dir / MANIFEST, json.dumps(
            {"run": self.run_id, "jobs": keys, "files": {p.name: _file_sha256(p) for p in written}}))
        return written

    def table(self, name: str) -> pd.DataFrame:
        """A top-level table as last built (Parquet if there is one, else CSV); empty if none.

        Args:
            name: the table's name (``folds``, ``epochs``, ``iterations``, ``predictions``,
                ``environment``, ``trials``).

        Returns:
            The table as a DataFrame; an empty one when it was never built (or holds no row).
        """
        if (self.dir / f"{name}.parquet").exists():
            return pd.read_parquet(self.dir / f"{name}.parquet")
        try:
            return pd.read_csv(self.dir / f"{name}.csv")
        except (FileNotFoundError, pd.errors.EmptyDataError):
            return pd.DataFrame()


def _concat(parts: list[pa.Table]) -> pa.Table | None:
    if not parts:
        return None
    try:  # "permissive": a column all-null in one part and typed in another still concatenates
        return pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # e.g. an old CSV part read an empty note as NaN
        df = pd.concat([t.to_pandas() for t in parts], ignore_index=True)
        return pa.Table.from_pandas(_parquet_safe(df), preserve_index=False)


def _plugin_changes(old: dict, new: dict) -> str:
    """How the plugin units' code differs between two run identities (``bench.execution.run.run_identity``), if it does."""
    was, now = old.get("plugins") or {}, new.get("plugins") or {}
    changed = [f"{unit}: {was.get(unit, 'none')} -> {now.get(unit, 'none')}" for unit in sorted(set(was) | set(now))
               if unit in was and unit in now and was[unit] != now[unit]]
    return f"; plugin code changed since, {'; '.join(changed)}" if changed else ""


def _listing(keys: list[str], limit: int = 5) -> str:
    return ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
