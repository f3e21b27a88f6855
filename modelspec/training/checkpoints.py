"""Checkpoint manifests and checksums: the commit point of an epoch, and recovery from damage.

Every epoch checkpoint directory (`checkpoints/epoch-0007/`) holds, besides the weights and
optimizer files, a `checkpoint.json` manifest: the run state at that epoch, the metrics
history up to it and the sha256 of every file in the directory. `state.json` repeats the
checksums of the checkpoint in use and of the one before it. Writing `state.json`
(atomically) is the one commit point of an epoch: a kill before it leaves the previous epoch
in use, after it the new one; `history.json` and `training.csv` are views regenerated from
the committed manifest when a run resumes, so they never hold an epoch twice.

On resume the checkpoint `state.json` names is verified; when it (or `state.json` itself) is
damaged — truncated, emptied, deleted — the newest intact older checkpoint is used with a
warning, and only when none is intact does a clean error name the damaged file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelspec.errors import StateConflictError, UsageError
from modelspec.training.config import KEEP_AT_LEAST
from modelspec.training.rundir import STATE, RunDir, atomic_write_json, load_models, read_json

MANIFEST = "checkpoint.json"
_EPOCH_DIR = re.compile(r"^epoch-(\d{4,})(-interrupted)?$")


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def digests(directory: Path) -> dict[str, str]:
    """sha256 of every regular file of a checkpoint directory except its manifest."""
    return {p.name: sha256_file(p) for p in sorted(Path(directory).iterdir())
            if p.is_file() and p.name != MANIFEST}


def write_manifest(directory: Path, state: dict, history: dict) -> dict[str, str]:
    """Writes `checkpoint.json` into a filled (not yet committed) checkpoint directory.

    Returns:
        The checksums of the directory's files (also stored in the manifest).
    """
    files = digests(directory)
    atomic_write_json(Path(directory) / MANIFEST, dict(state, files=files, history=history))
    return files


def damage(directory: Path, files: dict | None) -> str | None:
    """What is wrong with a checkpoint directory ("... is missing", "... does not match its
    checksum"), or None when every file named in `files` is intact. Without checksums (a run
    directory written before they existed) only the presence of the directory is checked."""
    directory = Path(directory)
    if not directory.is_dir():
        return f"{directory} is missing"
    for name, expected in (files or {}).items():
        path = directory / name
        if not path.is_file():
            return f"{path} is missing"
        if sha256_file(path) != expected:
            return f"{path} does not match its checksum (truncated or modified)"
    return None


@dataclass
class ResumePoint:
    """Where a run continues: its state (as in `state.json`), history and any warning."""

    state: dict | None
    history: dict | None = None
    warning: str | None = None


def _manifests(run: RunDir) -> list[tuple[int, Path, dict]]:
    """(epoch, directory, manifest) of every checkpoint with a readable manifest, newest
    first."""
    out: list[tuple[int, Path, dict]] = []
    if not run.checkpoints.is_dir():
        return out
    for child in run.checkpoints.iterdir():
        match = _EPOCH_DIR.match(child.name)
        if not match or not (child / MANIFEST).is_file():
            continue
        try:
            manifest = json.loads((child / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and isinstance(manifest.get("epoch"), int):
            out.append((manifest["epoch"], child, manifest))
    return sorted(out, key=lambda item: (item[0], not item[1].name.endswith("interrupted")),
                  reverse=True)


def _read_state(run: RunDir) -> tuple[dict | None, str | None]:
    """(state, problem): the parsed `state.json`, or None and why it cannot be used."""
    path = run.root / STATE
    if not path.exists():
        return None, None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return None, f"{path} cannot be read ({err.__class__.__name__}: {err})"
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
        return None, f"{path} is not a run state"
    return state, None


def resume_point(run: RunDir) -> ResumePoint:
    """The verified state to resume from (see the module docstring).

    Raises:
        StateConflictError: The run's state or checkpoints are damaged and no intact
            checkpoint is left (exit 4); the message names the damaged file.
    """
    state, problem = _read_state(run)
    if state is None and problem is None:
        return ResumePoint(None)
    if state is not None:
        name = state.get("checkpoint")
        if not name:
            return ResumePoint(state)
        problem = damage(run.checkpoints / name, state.get("files"))
        if problem is None:
            return ResumePoint(state, _history_of(run.checkpoints / name, state))
    limit = state["epoch"] if state is not None else None
    named = state.get("checkpoint") if state is not None else None
    for epoch, directory, manifest in _manifests(run):
        if limit is not None and (epoch > limit or directory.name == named):
            continue
        if damage(directory, manifest.get("files")) is None:
            history = manifest.pop("history", None)
            warning = (f"warning: {problem}; resuming from the previous intact checkpoint "
                       f"{directory} (epoch {epoch})")
            return ResumePoint(dict(manifest, finished=False), history, warning)
    raise StateConflictError(f"{problem}, and no intact earlier checkpoint is left in "
                             f"{run.checkpoints}; pass --restart to start the run over")


def _history_of(directory: Path, state: dict) -> dict | None:
    """The history committed with a checkpoint (None for run directories without one)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    history = manifest.get("history") if isinstance(manifest, dict) else None
    return history if isinstance(history, dict) else None


def load_run(run_dir: str | Path, which: str = "final") -> Any:
    """Loads a finished (or interrupted) run: its spec, its models with weights, its metrics.

    Args:
        run_dir: A run directory written by `modelspec train`.
        which: "final" (the weights training ended with; falls back to the latest
            checkpoint), "best" or "latest".

    Returns:
        `(CheckedSpec, {model name: keras.Model}, metrics)` where metrics is the final
        metrics dict (empty when training did not finish).

    Raises:
        UsageError: When `run_dir` is not a run directory or holds no weights.
        StateConflictError: Its state and every checkpoint are damaged (the file is named).

    Example:
    >>> spec, models, metrics = load_run("runs/lenet5")
    """
    run = RunDir(run_dir)
    if not (run.root / STATE).exists():
        raise UsageError(f"{run_dir}: not a run directory (no {STATE}); train a spec first "
                         "with `modelspec train SPEC`")
    run.recover()
    point = resume_point(run)  # a damaged newest checkpoint: the previous intact one
    state = point.state or {}
    if point.warning:
        import sys
        print(point.warning.replace("resuming from", "using"), file=sys.stderr)
    from modelspec.build.compiler import build_models
    from modelspec.lang.checks import check, load_and_check
    spec = None
    original = state.get("spec_path")
    overrides = state.get("overrides") or None
    if original and Path(original).is_file():  # relative paths in it keep their meaning
        try:
            candidate = load_and_check(original, overrides=overrides)
        except Exception:  # edited since into something invalid: use the run's copy
            candidate = None
        if candidate is not None and candidate.fingerprint == state.get("fingerprint"):
            spec = candidate
    if spec is None:  # the run's own copy, with relative paths still meaning the original's
        from modelspec.lang import yamlio
        copy = run.path("spec.yaml")
        base = Path(original) if original else copy
        spec = check(yamlio.load_text(copy.read_text(), filename=str(copy), path=base),
                     overrides)
    models = build_models(spec)
    candidates = {"final": ["final", state.get("checkpoint"), "best"],
                  "best": ["best", "final", state.get("checkpoint")],
                  "latest": [state.get("checkpoint"), "final"]}[which]
    for name in candidates:
        directory = run.path("final") if name == "final" else run.checkpoints / str(name)
        if name and all((directory / f"{m}.weights.h5").exists() for m in models):
            load_models(directory, models)
            break
    else:
        raise UsageError(f"{run_dir}: holds no saved weights yet")
    metrics = read_json(run.path("metrics.json"), {}) or {}
    return spec, models, metrics


def _rank(name: str) -> tuple[int, bool] | None:
    """(epoch, interrupted) of an epoch checkpoint's directory name (an `-interrupted` one
    is written after the complete epoch of the same number), or None for any other name."""
    match = _EPOCH_DIR.match(name)
    return (int(match.group(1)), bool(match.group(2))) if match else None


def prune_checkpoints(run: RunDir, current: str, previous: str | None,
                      keep: int | None = None) -> None:
    """Keeps the newest `keep` epoch checkpoints (`train.callbacks.checkpoint.keep`, default
    and least `KEEP_AT_LEAST`) up to `current`, always `current`, `previous` (the fallback
    when `current` is found damaged) and `best/`; removes the rest, leftovers of killed
    writes and checkpoints newer than `current` (never committed by `state.json`)."""
    newest = _rank(current)
    ranked = sorted((rank, child.name) for child in run.checkpoints.iterdir()
                    if (rank := _rank(child.name)) is not None and newest is not None
                    and rank <= newest) if run.checkpoints.is_dir() else []
    count = max(keep or KEEP_AT_LEAST, KEEP_AT_LEAST)
    kept = {name for _, name in ranked[-count:]} | {current, "best"}
    run.prune(kept | ({previous} if previous else set()))
