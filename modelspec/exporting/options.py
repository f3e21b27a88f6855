"""Errors of the `export:` options (`classify`, `labels`, `preprocessing`) against a model."""

from __future__ import annotations


class ExportOptionError(ValueError):
    """An export option (`classify`, `labels`, `preprocessing`) does not fit the model.

    Args:
        option: The option's key in the spec's `export:` section.
        message: What is wrong.
    """

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option
