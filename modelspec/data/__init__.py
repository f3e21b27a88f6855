"""Data pipelines: the `data:` section of a spec → batched `tf.data` datasets.

Modules (TensorFlow is imported only by the pipeline modules, never by `schema`, `checks`,
`registry` or `splits`):

- `registry`: the closed tables of sources, generated sets, transforms and augmentations.
- `schema`: `data_schema()` (JSON Schema fragment) and `check_data(spec, errs)`.
- `checks`: static checks (files exist, fields, splits) used by `check_data`.
- `splits`: `train[:80%]`-style split expressions.
- `sources`: the table of sources (type → loader); `source_base`, `sources_files`,
  `generated`: the loaders.
- `fetch`: data sets by public origin (`download:`): local copies in `MODELSPEC_DATA_DIR`,
  else fetched once into the Keras cache by `keras.utils.get_file` (no TensorFlow at import).
- `step`: the base of every transform (configuration, spec-time problems, serving layers).
- `transforms`, `transforms_select`, `augment`: field-wise transforms, the example-selecting
  ones (`filter`, `map_values`), and training-time augmentation.
- `preprocessing`: the serving-time preprocessing model recorded for export.
- `pipeline`: `build_datasets(spec, inputs, outputs) -> DataBundle` (with per-output
  `sample_weights`); `pipeline_checks`: the checks that need the data itself (dtypes,
  unknown `map_values` keys, sample-weight fields).
- `cli`: the `modelspec data SPEC` command.
"""

from typing import Any

__all__ = ["build_datasets", "DataBundle", "data_schema", "check_data"]


def __getattr__(name: str) -> Any:
    if name in ("build_datasets", "DataBundle"):
        from modelspec.data import pipeline
        return getattr(pipeline, name)
    if name in ("data_schema", "check_data"):
        from modelspec.data import schema
        return getattr(schema, name)
    raise AttributeError(name)
