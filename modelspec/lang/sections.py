"""The stage sections of a spec (`data:`, `train:`, `export:`): schema fragment and check.

Each stage owns its section in a TensorFlow-free `schema` module (the fragment of the JSON
Schema and the semantic check); this table is the one place where the front end meets them.
`lang.schema.document` assembles the fragments, `lang.checks` runs the checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelspec.data import schema as data_schema
from modelspec.errors import Collector
from modelspec.exporting import schema as export_schema
from modelspec.training import schema as train_schema
from modelspec.tune import schema as tune_schema


@dataclass(frozen=True)
class Section:
    """One stage section: its key, its JSON Schema fragment and its semantic check."""

    key: str
    schema: Callable[[], dict[str, Any]]
    check: Callable[[Any, Collector], None]  # (CheckedSpec, Collector); no TensorFlow


SECTIONS: tuple[Section, ...] = (
    Section("data", data_schema.data_schema, data_schema.check_data),
    Section("train", train_schema.train_schema, train_schema.check_train),
    Section("export", export_schema.export_schema, export_schema.check_export),
    Section("tune", tune_schema.tune_schema, tune_schema.check_tune),
)
