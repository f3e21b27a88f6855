"""What a search leaves behind: the leaderboard, `tune.json` and `best.yaml`.

`best.yaml` is the searched spec itself, round-tripped by ruamel.yaml (comments and layout
kept), with the winning values written into `params` and the `tune:` section removed: a
plain spec for `modelspec train`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelspec.fileio import atomic_write_text
from modelspec.training.rundir import atomic_write_json
from modelspec.tune.config import TuneConfig
from modelspec.tune.search import TrialRecord


@dataclass
class Leaderboard:
    """Completed trials best first, the baseline (the spec as written) and the failures."""

    config: TuneConfig
    ranked: list[TrialRecord]
    failed: list[str] = field(default_factory=list)
    baseline: TrialRecord | None = None

    @property
    def best(self) -> TrialRecord | None:
        """The best of the trials and the baseline (the spec as written may win)."""
        candidates = self.ranked + ([self.baseline] if self.baseline is not None
                                    and self.score(self.baseline) is not None else [])
        if not candidates:
            return None
        sign = -1.0 if self.config.direction == "max" else 1.0
        return min(candidates, key=lambda r: sign * (self.score(r) or 0.0))

    def score(self, record: TrialRecord) -> float | None:
        value = record.metrics.get(self.config.objective)
        return float(value) if isinstance(value, (int, float)) else None


def leaderboard(config: TuneConfig, records: list[tuple[Any, TrialRecord | None]],
                baseline: TrialRecord | None) -> Leaderboard:
    """Ranks the completed trials by the objective in its direction."""
    done = [r for trial, r in records if r is not None and str(trial.status) == "COMPLETED"
            and r.metrics.get(config.objective) is not None]
    failed = [trial.trial_id for trial, r in records if str(trial.status) in ("FAILED",
                                                                            "INVALID")]
    sign = -1.0 if config.direction == "max" else 1.0
    done.sort(key=lambda r: sign * float(r.metrics[config.objective]))
    return Leaderboard(config, done, failed, baseline)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def leaderboard_table(board: Leaderboard) -> str:
    """The leaderboard as an aligned text table (rank, trial, values, objective, ...)."""
    names = [p.name for p in board.config.params]
    head = ["rank", "trial", *names, board.config.objective, "epochs", "seconds"]
    rows = [head]
    for rank, record in enumerate(board.ranked, 1):
        rows.append([str(rank), record.trial_id, *(_fmt(record.values.get(n)) for n in names),
                     _fmt(board.score(record)), str(record.epochs), _fmt(record.seconds)])
    if board.baseline is not None:
        record = board.baseline
        rows.append(["spec", "baseline", *(_fmt(record.values.get(n)) for n in names),
                     _fmt(board.score(record)), str(record.epochs), _fmt(record.seconds)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    direction = "higher" if board.config.direction == "max" else "lower"
    title = f"leaderboard ({board.config.objective}, {direction} is better)"
    if board.failed:
        lines.append(f"failed trials: {', '.join(board.failed)}")
    return "\n".join([title, *lines])


def write_tune_json(board: Leaderboard, path: Path, spec_path: str) -> None:
    """Writes `tune.json`: the search, its trials best first, the best and the baseline."""
    config = board.config
    atomic_write_json(path, {
        "spec": spec_path, "objective": config.objective, "direction": config.direction,
        "algorithm": config.algorithm, "executions_per_trial": config.executions_per_trial,
        "space": {p.name: {"type": p.type, **p.args} for p in config.params},
        "trials": [r.__dict__ for r in board.ranked], "failed": board.failed,
        "best": board.best.__dict__ if board.best else None,
        "baseline": board.baseline.__dict__ if board.baseline else None,
    })


def _is_relative_file(value: object, base: Path) -> bool:
    """A relative path (with a folder or an extension) naming a file or folder next to the
    spec: data files, `init_from.run`, Application weights."""
    if not isinstance(value, str) or not value or value.startswith("$") or "\n" in value:
        return False
    path = Path(value)
    if path.is_absolute() or ("/" not in value and not path.suffix):
        return False
    try:
        return (base / path).exists()
    except OSError:
        return False


def rebase_paths(node: Any, old_base: Path, new_base: Path) -> None:
    """Rewrites, in place, relative paths that name existing files next to the spec so that
    they mean the same files from `new_base` (where best.yaml is written)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, value in list(items):
        if _is_relative_file(value, old_base):
            node[key] = os.path.relpath((old_base / value).resolve(), new_base.resolve())
        else:
            rebase_paths(value, old_base, new_base)


def best_spec_text(text: str, values: Mapping[str, Any], header: str, old_base: Path | None = None,
                   new_base: Path | None = None) -> str:
    """The spec's YAML with `values` written into `params` and no `tune:` section; with
    `old_base` and `new_base`, relative file paths are rebased from one to the other."""
    from ruamel.yaml import YAML

    # ruamel's round-trip loader builds only its own mappings and sequences (never an
    # object from a tag), on a spec modelspec already checked: comments and order survive
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load(text)
    for name, value in values.items():
        document["params"][name] = value
    document.pop("tune", None)
    if old_base is not None and new_base is not None:
        rebase_paths(document, old_base, new_base)
    out = io.StringIO()
    yaml.dump(document, out)
    return "".join(f"# {line}\n" for line in header.splitlines()) + out.getvalue()


def write_best_spec(board: Leaderboard, text: str, path: Path, spec_path: str) -> None:
    """Writes `best.yaml` for the best trial (nothing when no trial completed)."""
    best = board.best
    if best is None:
        return
    which = "the spec as written (no trial beat it)" if best is board.baseline \
        else f"trial {best.trial_id}"
    header = (f"best configuration of `modelspec tune {spec_path}`: {which}, "
              f"{board.config.objective} = {_fmt(board.score(best))}\n"
              "relative file paths are rewritten to be relative to this file's folder")
    atomic_write_text(path, best_spec_text(text, best.values, header,
                                           Path(spec_path).resolve().parent, path.parent))
