"""Keras's own layer classes of its applications, as built-in layer types of a spec.

ConvNeXt scales each residual branch with `LayerScale` and InceptionResNetV2 adds its
scaled branches with `CustomScaleLayer`; Keras defines both inside the application modules
(`keras.src.applications.*`), not in `keras.layers`. A spec names them like any built-in
layer and gets Keras's very classes — the same config, the same weights (`gamma`), the
same outputs — so `modelspec import ConvNeXtTiny` needs no plugin. Their argument tables
are plain data in `modelspec.lang.application_layer_args`.

Example:
>>> layer = APPLICATION_LAYERS["LayerScale"](init_values=1e-6, projection_dim=96)
>>> type(layer).__module__
'keras.src.applications.convnext'
"""

from __future__ import annotations

from keras.src.applications.convnext import LayerScale
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

APPLICATION_LAYERS: dict[str, type] = {
    "LayerScale": LayerScale,
    "CustomScaleLayer": CustomScaleLayer,
}
