"""Reading a Keras model's architecture as data: a `.keras` file, a JSON config or an
application name.

A `.keras` file is a zip holding `config.json` (the model's config) and
`model.weights.h5` (its weights, Keras's own format); a JSON config is what
`model.to_json()` writes. Both are read as plain JSON: no Keras object is deserialised, so
no code in the file ever runs (never `safe_mode=False`, never a Lambda's bytecode). Only a
`keras.applications` name builds a model, with Keras's own code and `weights=None`.

Example:
>>> source = read_model("resnet.keras")
>>> source.config["class_name"], source.weights_member
('Functional', 'model.weights.h5')
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelspec.errors import UsageError
from modelspec.lang import catalog

CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.h5"


@dataclass
class ModelSource:
    """A model's config (Keras's JSON form) and where its weights are.

    Attributes:
        label: How the user named it (a path or an application name).
        config: `{"class_name": "Functional" | "Sequential", "config": {...}}`.
        archive: The `.keras` zip holding `model.weights.h5`, if any.
        model: The built Keras model (application names only), for its weights.
    """

    label: str
    config: dict
    archive: Path | None = None
    model: Any = None


def read_model(name: str, input_shape: tuple[int, ...] | None = None) -> ModelSource:
    """Reads a `.keras` file, a JSON config file or a `keras.applications` name.

    Args:
        name: The path or application name (e.g. "ResNet50").
        input_shape: For an application: its input shape (Keras's default if None).

    Raises:
        UsageError: If the file is missing or is not a Keras model config.
    """
    path = Path(name)
    if path.suffix in (".keras", ".json", ".zip") or path.exists():
        if not path.is_file():
            raise UsageError(f"'{name}': no such file")
        if zipfile.is_zipfile(path):
            return _read_archive(path)
        return ModelSource(name, _model_config(_parse_json(path.read_text(), name), name))
    applications = catalog.catalog()["applications"]
    if name in applications:
        return _application(name, input_shape)
    from modelspec.errors import did_you_mean
    hint = did_you_mean(name, applications)
    raise UsageError(f"'{name}' is neither a file nor a keras.applications name"
                     + (f" (did you mean '{hint}'?)" if hint else "")
                     + " — expected a .keras file, a JSON config (model.to_json()) or an "
                     "application such as ResNet50")


def _read_archive(path: Path) -> ModelSource:
    with zipfile.ZipFile(path) as archive:
        members = set(archive.namelist())
        if CONFIG_MEMBER not in members:
            raise UsageError(f"'{path}': a zip without {CONFIG_MEMBER} — expected a .keras "
                             "file written by model.save('model.keras')")
        text = archive.read(CONFIG_MEMBER).decode("utf-8")
        has_weights = WEIGHTS_MEMBER in members
    config = _model_config(_parse_json(text, str(path)), str(path))
    return ModelSource(str(path), config, archive=path if has_weights else None)


def _parse_json(text: str, name: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"'{name}': not JSON ({err.msg} at line {err.lineno}) — expected "
                         "a Keras model config (model.to_json())") from None
    if not isinstance(data, dict):
        raise UsageError(f"'{name}': not a Keras model config — expected a JSON object")
    return data


def _model_config(data: dict, name: str) -> dict:
    """`{"class_name": ..., "config": {...}}`, also from a bare `get_config()` dict."""
    if "class_name" not in data and isinstance(data.get("layers"), list):
        kind = "Functional" if "input_layers" in data else "Sequential"
        data = {"class_name": kind, "config": data}
    if not isinstance(data.get("config"), dict) or not isinstance(
            data["config"].get("layers"), list):
        raise UsageError(f"'{name}': not a Keras model config — expected "
                         "{\"class_name\": \"Functional\", \"config\": {\"layers\": [...]}} "
                         "as model.to_json() writes it")
    return data


def _application(name: str, input_shape: tuple[int, ...] | None) -> ModelSource:
    from modelspec.tfenv import quiet_tensorflow
    quiet_tensorflow()
    import keras

    kwargs: dict[str, Any] = {"weights": None}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    model = getattr(keras.applications, name)(**kwargs)
    config = json.loads(model.to_json())
    return ModelSource(name, config, model=model)
