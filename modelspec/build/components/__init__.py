"""Components modelspec adds to Keras and builders of Keras objects from spec values.

- `builtin_args`: argument tables (JSON Schema) of the built-in layers; no TensorFlow.
- `builtin_layers`: the built-in layers (`LocalResponseNormalization`, `GradientReversal`,
  `Step`) and the `step` activation, registered as Keras serializable objects.
- `lenet_layers`, `loss_layers`, `regularizers`: more built-ins, by concern.
- `application_layers`: Keras's own layer classes of its applications (ConvNeXt's
  `LayerScale`, InceptionResNetV2's `CustomScaleLayer`) as built-in layer types.
"""
