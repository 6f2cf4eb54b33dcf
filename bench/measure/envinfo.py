"""What a result was measured on: machine, device, threads, library versions, git commit.

:func:`environment` is the whole record (metadata of a run session); :func:`job_environment` is the
part that decides whether two timings are comparable, measured where the job runs (a Dask worker
reports its own machine) and identified by a short hash, ``env_id``.
"""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from .policy import precision_flags, thread_counts
from .subnormals import state as subnormal_state

__all__ = ["environment", "job_environment", "cpu_model", "device_name", "MACHINE_FIELDS"]

PACKAGES = ("torch", "kymatio", "numpy", "scipy", "scikit-learn", "pandas", "numba", "llvmlite", "triton",
            "soundfile")


def cpu_model() -> str:
    """The CPU's model name.

    Returns:
        ``model name`` from ``/proc/cpuinfo``, else what ``platform`` says (processor or machine).
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """The model of the device a run computes on.

    Args:
        device: ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The GPU's name for a CUDA device torch sees, else the CPU's (:func:`cpu_model`).
    """
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return cpu_model()


def git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]  # the repository (bench/measure/envinfo.py)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if sha.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _cudnn() -> str | None:
    try:
        v = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except RuntimeError:
        v = None
    return None if v is None else str(v)


def environment(device: str) -> dict:
    """The whole record of where and how a run computes, as a run's ``metadata.json`` holds it.

    Args:
        device: the run's device.

    Returns:
        ``device``, ``device_name``, ``host``, ``cpu``, the pools' thread counts, ``subnormals`` (measured
            in this thread's pools), ``cuda``, ``cudnn``, ``precision_flags``, ``python``, ``platform``,
            ``versions`` (of torch, kymatio, numpy, ... ; None where not installed) and the git ``commit``
            (``+dirty`` with uncommitted changes).
    """
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = version(p)
        except PackageNotFoundError:
            versions[p] = None
    versions["torch"] = torch.__version__  # with its build tag (+cpu, +cu130): the distribution name drops it
    return {
        "device": device,
        "device_name": device_name(device),
        "host": platform.node(),
        "cpu": cpu_model(),
        **thread_counts(),
        "subnormals": subnormal_state(),  # measured in this thread's pools, not the option asked for
        "cuda": torch.version.cuda,
        "cudnn": _cudnn(),
        "precision_flags": precision_flags(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": git_commit(),
    }


# What makes two timings comparable: the same machine, device, library builds (torch, and numba and
# triton, which compile the IndRNN's kernels), code, threads and subnormal policy.
MACHINE_FIELDS = ("host", "device_name", "cpu", "torch", "numba", "triton", "cuda", "cudnn", "python", "commit",
                  "torch_threads", "numba_threads", "subnormals")
"""The fields of a job's environment that must match for two timings to be compared; ``env_id`` hashes them."""


def job_environment(device: str) -> dict:
    """The machine one job runs on, flat, with ``env_id`` = a hash of :data:`MACHINE_FIELDS`.

    Measured where the job runs (a Dask worker reports its own machine).

    Args:
        device: the run's device.

    Returns:
        The :data:`MACHINE_FIELDS`, ``precision_flags`` (JSON), ``blas_threads`` and ``env_id``
            (``env-`` and 8 hex digits): a row of the ``environment`` table.
    """
    full = environment(device)
    env = {k: full.get(k) for k in MACHINE_FIELDS}
    for package in ("torch", "numba", "triton"):
        env[package] = full["versions"][package]
    env["precision_flags"] = json.dumps(full["precision_flags"], sort_keys=True)
    env["blas_threads"] = full.get("blas_threads")  # recorded (the baseline's pool), not part of env_id
    digest = hashlib.sha256(json.dumps([env[k] for k in MACHINE_FIELDS]).encode()).hexdigest()[:8]
    env["env_id"] = f"env-{digest}"  # never parsed as a number by a CSV reader
    return env
