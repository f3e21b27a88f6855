"""Argument tables of the layer classes Keras's applications define for themselves, as
plain data (no TensorFlow): ConvNeXt's `LayerScale` and InceptionResNetV2's
`CustomScaleLayer`.

They are not in `keras.layers`, so Keras's catalogue does not list them; a spec names
them like any built-in layer (`{type: LayerScale, init_values: 1.0e-06, projection_dim:
96}`), and `modelspec.build.components.application_layers` builds Keras's very classes.
`KERAS_MODULES` says where Keras serialises each class, so `modelspec import` recognises
them in a model's config. Merged into `builtin_args.BUILTIN_LAYER_ARGS`.

Example:
>>> APPLICATION_LAYER_ARGS["LayerScale"]["projection_dim"]["type"]
'integer'
"""

from __future__ import annotations

from typing import Any

_DTYPE_ARG = {
    "enum": ["float16", "bfloat16", "float32", "float64", "mixed_float16", "mixed_bfloat16",
             None],
    "default": None,
    "description": "dtype policy of this layer (null: the global policy)"}

# No `default`: the argument is required (Keras's constructors have none either).
APPLICATION_LAYER_ARGS: dict[str, dict[str, dict[str, Any]]] = {
    "LayerScale": {
        "init_values": {
            "type": "number",
            "description": "initial value of every scale (ConvNeXt: 1e-6); Keras's "
                           "Constant initializer of the weight `gamma`"},
        "projection_dim": {
            "type": "integer", "minimum": 1,
            "description": "channels of the input: one trainable scale per channel"},
        "dtype": _DTYPE_ARG,
    },
    "CustomScaleLayer": {
        "scale": {
            "type": "number",
            "description": "in: [x, y] → x + y * scale (InceptionResNetV2's residual "
                           "scaling: 0.17, 0.1, 0.2, 1.0)"},
        "dtype": _DTYPE_ARG,
    },
}

APPLICATION_LAYER_DOCS: dict[str, str] = {
    "LayerScale": "ConvNeXt's layer scale (Touvron et al. 2021): x times a trainable "
                  "per-channel vector gamma (keras.src.applications.convnext)",
    "CustomScaleLayer": "InceptionResNetV2's scaled residual sum, in: [x, y] → x + y × "
                        "scale, no weights (keras.src.applications.inception_resnet_v2)",
}

# Where Keras serialises each class (its config's `module`).
KERAS_MODULES: dict[str, str] = {
    "LayerScale": "keras.src.applications.convnext",
    "CustomScaleLayer": "keras.src.applications.inception_resnet_v2",
}
