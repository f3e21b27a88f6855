"""`modelspec import`: any functional or sequential Keras model as a readable spec.

Modules, in the order they run:
    reader       a `.keras` file / JSON config / `keras.applications` name → config (data)
    keras_graph  config → the importer's layer graph; unsupported layers, one by one
    arguments    a layer's config → its non-default arguments in the spec's forms
    blocks       repeated subgraphs → `blocks:` with `repeat`/`first`/`vary`
    writer       the spec document → YAML text a person would write
    convert      the whole conversion, checked like any spec
    weights      the model's weights beside the spec (Keras's `.weights.h5`)
    cli          the `import` command
"""
