"""modelspec: declarative model specs for Keras 3 on TensorFlow.

A spec is a YAML document describing a layer graph, its data, its training and its export.
The public API loads and checks specs without importing TensorFlow; building, training
and exporting import it on first use.

Example:
>>> import modelspec
>>> spec = modelspec.load_spec("specs/lenet5.yaml")
>>> model = modelspec.build_model(spec)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelspec import tfenv
from modelspec.errors import ModelspecError, Problem, SpecError

tfenv.prepare()  # before anything imports TensorFlow (see modelspec/tfenv.py)

from modelspec.version import __version__  # noqa: E402

if TYPE_CHECKING:
    from modelspec.lang.spec import CheckedSpec

__all__ = ["load_spec", "validate", "build_model", "train", "export", "register_layer",
           "register_loss", "register_metric", "register_callback",
           "ModelspecError", "SpecError", "Problem", "__version__"]


def load_spec(path_or_text: str | Path, *, filename: str | None = None) -> CheckedSpec:
    """Loads and fully checks a spec (schema and semantics; no TensorFlow needed).

    Args:
        path_or_text: A path to a YAML file, or the YAML text itself.
        filename: The name to use in error messages when text is given.

    Returns:
        A `modelspec.lang.spec.CheckedSpec`.

    Raises:
        SpecError: With every problem of the document, sorted by line.
    """
    from modelspec.lang.checks import load_and_check
    return load_and_check(path_or_text, filename=filename)


def validate(path_or_text: str | Path, *, filename: str | None = None) -> list[Problem]:
    """Checks a spec and returns its problems (an empty list when it is valid).

    Unlike `load_spec`, it never raises for a bad spec; it does not build the model.
    """
    try:
        load_spec(path_or_text, filename=filename)
    except SpecError as err:
        return list(err.problems)
    return []


def build_model(spec: str | Path | CheckedSpec, **overrides: Any) -> Any:
    """Compiles a spec into a `keras.Model` (or a dict name → model for `models:` specs).

    Args:
        spec: A path, YAML text or a checked spec from `load_spec`.
        **overrides: Values for the spec's `params` (e.g. `num_classes=10`).
    """
    from modelspec.build.compiler import build_from_spec
    return build_from_spec(spec, overrides)


def train(spec: str | Path | CheckedSpec, **kwargs: Any) -> Any:
    """Trains a spec; see `modelspec.training.run.train_spec` for the arguments."""
    from modelspec.training.run import train_spec
    return train_spec(spec, **kwargs)


def export(spec_or_run: str | Path, output: str | Path | None,
           **kwargs: Any) -> dict[str, Path]:
    """Exports a spec or a run directory as a versioned SavedModel under `output`."""
    from modelspec.exporting.api import export_spec_or_run
    return export_spec_or_run(spec_or_run, output, **kwargs)


def register_loss(name: str, loss: object) -> None:
    """Adds a loss to the closed registry: `train.loss: name` (or `{type: name, ...}`).

    Args:
        name: The name specs use.
        loss: A function `(y_true, y_pred) -> per-example losses`, or a `keras.losses.Loss`
            subclass (built with the spec's arguments: `{type: name, margin: 1.0}`).

    Example (a plugin file, used as `modelspec --plugin contrastive.py train siamese.yaml`):
    >>> def contrastive(y_true, y_pred, margin=1.0): ...
    >>> modelspec.register_loss("contrastive", contrastive)
    """
    from modelspec.lang.registry import register_python_component
    register_python_component("losses", name, loss)


def register_metric(name: str, metric: object) -> None:
    """Adds a metric (a function or a `keras.metrics.Metric` subclass) under `name`."""
    from modelspec.lang.registry import register_python_component
    register_python_component("metrics", name, metric)


def register_callback(name: str, cls: type) -> None:
    """Adds a `keras.callbacks.Callback` subclass: `train.callbacks: {name: {args}}` (or true)."""
    from modelspec.lang.registry import register_python_component
    register_python_component("callbacks", name, cls)


def register_layer(name: str, cls: type, *, inputs: str = "single",
                   ports: list[str] | None = None) -> None:
    """Adds a Python layer class to the closed layer registry (the extension point).

    Args:
        name: The `type:` name specs use.
        cls: A `keras.layers.Layer` subclass.
        inputs: How `in: [a, b]` is passed: "single", "list" or "positional".
        ports: Names of the layer's outputs when it returns several.
    """
    from modelspec.lang.registry import register_python_layer
    register_python_layer(name, cls, inputs=inputs, ports=ports)
