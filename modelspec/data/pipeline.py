"""`build_datasets`: a spec's `data:` section → batched tf.data pipelines for a model.

Per split the pipeline is

    source rows (split slice) → decode → transforms (adapted on train) → cache
      → [train] shuffle → batch → [train] augment → (inputs dict, targets dict
      [, sample weights dict]) → prefetch

with parallel maps and AUTOTUNE everywhere, no Python code per example. Transforms that draw
random numbers (noise, negative sampling) run after the cache, so every epoch differs.
(`cache: true`, the default, is skipped where it would only copy arrays already in memory.)
Everything the data can tell before training (missing files, unknown fields, a field whose
shape does not fit the model input, empty splits, values a `map_values` table lacks) raises
`SpecError` at the spec's line. A `filter` transform makes the number of examples unknown to
tf.data; the pipeline counts them once (a pass over the split before the cache) and restores
the cardinality with `assert_cardinality`, so `len(dataset)` and the steps per epoch stay right.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from modelspec.build.compiler import model_io
from modelspec.data.augment import augment_batch, make_augmenters
from modelspec.data.config import DataConfig, DataFeed
from modelspec.data.epoch_order import epoch_counter, epoch_shuffle
from modelspec.data.pipeline_checks import class_names_after, dtype_problem, weight_fields
from modelspec.data.preprocessing import build_preprocessing
from modelspec.data.sources import load_source
from modelspec.data.splits import default_splits, parse_split
from modelspec.data.step import Step
from modelspec.data.transforms import make_step
from modelspec.data.transforms_select import MapValues
from modelspec.errors import Collector, did_you_mean

AUTOTUNE = tf.data.AUTOTUNE

# model input / output name → (shape without the batch dimension, dtype name)
ModelIO = Mapping[str, tuple[Sequence[Any], Any]]
Fields = dict[str, tf.TensorSpec]


@dataclass
class DataBundle:
    """The datasets of a spec, ready for `model.fit`.

    Attributes:
        train, validation, test: Batched `tf.data.Dataset`s yielding `(inputs, targets)` dicts
            keyed by model input / output names (inputs only when the model has no targets),
            or None when the split is not configured. With `data.sample_weights` they yield
            `(inputs, targets, sample_weights)`: one float32 weight vector per model output
            (ones for outputs without a weight field), as Keras `fit` accepts.
        counts: Split name → number of examples.
        preprocessing: Serving-time preprocessing (`keras.Model` raw fields → model inputs,
            see `modelspec.data.preprocessing`) or None.
        element_spec: The `element_spec` of the batched training dataset.
        features, targets: Model input / output name → source field.
        sample_weights: Model output name → the field weighting its loss (may be empty).
        fields: Field → `tf.TensorSpec` of one example after all transforms.
        meta: Facts from the source (e.g. `class_names`).
        raw_train: The training split's raw examples (unbatched, before any transform): what
            `serving_raw` receives (export checks that signature on its first examples).
    """

    train: Any = None
    validation: Any = None
    test: Any = None
    counts: dict[str, int] = field(default_factory=dict)
    preprocessing: Any = None
    element_spec: Any = None
    features: dict[str, str] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    sample_weights: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32
    raw_train: Any = None
    random_layers: list[Any] = field(default_factory=list)  # augmenters (their RNG state)
    epoch: Any = None  # tf.Variable: the epoch whose order the training split's next pass has


def _shape_fits(actual: Sequence[Any], expected: Sequence[Any]) -> bool:
    actual, expected = tuple(actual), tuple(expected)
    return len(actual) == len(expected) and all(
        e is None or a is None or a == e for a, e in zip(actual, expected))


def _target_fits(actual: Sequence[Any], expected: Sequence[Any]) -> bool:
    actual, expected = tuple(actual), tuple(expected)
    return (_shape_fits(actual, expected) or _shape_fits(actual, expected[:-1])
            or _shape_fits(actual + (1,), expected)
            or _shape_fits(actual, expected[:-1] + (1,)))


def _mapping(config: DataConfig, key: str, names: list[str], fields: Collection[str],
             errs: Collector) -> dict[str, str]:
    """Model name → field: the spec's mapping, else the field of the same name."""
    given = config.mapping(key)
    what = "input" if key == "features" else "output"
    out = {}
    for name in names:
        if name in given:
            out[name] = given[name]
        elif name in fields:
            out[name] = name
        else:
            errs.add(("data", key) if key in config.given else ("data",),
                     f"model {what} '{name}' is not fed: no field '{name}' and no "
                     f"data.{key}.{name}", expected=f"data.{key}: {{{name}: <one of "
                     f"{sorted(fields)}>}}", suggestion=did_you_mean(name, sorted(fields)))
    for name in given:
        if name not in names:
            errs.add(("data", key, name), f"the model has no {what} '{name}'",
                     expected=f"one of {sorted(names)}", suggestion=did_you_mean(name, names),
                     key=True)
        elif given[name] not in fields:
            errs.add(("data", key, name), f"unknown field '{given[name]}'",
                     expected=f"one of {sorted(fields)}",
                     suggestion=did_you_mean(given[name], sorted(fields)))
    return out


def _apply_steps(ds: tf.data.Dataset, steps: Sequence[Step], training: bool,
                 counting: bool = False) -> tf.data.Dataset:
    for step in steps:
        if step.restructuring:
            ds = step.restructure(ds, training, counting)
        elif step.filtering:
            ds = ds.filter(step.keep)
        else:
            ds = ds.map(lambda e, s=step: s(e, training), num_parallel_calls=AUTOTUNE,
                        deterministic=True)
    return ds


def _changes_count(step: Step) -> bool:
    return step.restructuring or step.filtering


def _check_mapped_values(ds: tf.data.Dataset, steps: Sequence[Step], split: str,
                         errs: Collector) -> None:
    """Positioned problems for values a `map_values` step without `default` cannot map.

    One pass over the split per such step (the steps before it applied, without training).
    """
    for i, step in enumerate(steps):
        if not isinstance(step, MapValues) or "default" in step.config:
            continue
        missing = step.unknown_values(_apply_steps(ds, steps[:i], training=False))
        if missing:
            shown = ", ".join(repr(v) for v in missing)
            errs.add(("data", "transforms", i, "mapping"), f"split '{split}' has values of "
                     f"field '{step.inputs[0]}' that are not in the mapping: {shown}",
                     expected="a key for every value, a 'default:' value, or a filter "
                     "transform before it")
    errs.raise_if_any()


def _count(ds: tf.data.Dataset, known: int | None) -> int:
    if known is not None:
        return known
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(ds.reduce(tf.constant(0, tf.int64), lambda c, _: c + 1))


def _select_splits(config: DataConfig, source: Any,
                   errs: Collector) -> dict[str, tuple[tf.data.Dataset, int]]:
    """Split name → (its raw examples, their number), every split checked to be known and
    to hold at least one example."""
    exprs = config.splits or default_splits(source.split_names)
    if "train" not in exprs:
        errs.add(("data", "splits"), "no train split", expected="splits: {train: ...}")
    for name, expr in exprs.items():
        for part in parse_split(expr):
            if part.name not in source.split_names:
                errs.add(("data", "splits", name), f"unknown split '{part.name}'",
                         expected=f"one of {source.split_names}",
                         suggestion=did_you_mean(part.name, source.split_names))
    errs.raise_if_any()
    selected = {name: source.select(expr, config.seed, config.split_shuffle)
                for name, expr in exprs.items()}
    for name, (_ds, count) in selected.items():
        if count == 0:
            errs.add(config.split_path(name), f"split '{name}' ('{exprs[name]}') is empty",
                     expected="a split with at least one example")
    errs.raise_if_any()
    return selected


def _adapt_steps(steps: Sequence[Step], train_raw: tf.data.Dataset, errs: Collector) -> Fields:
    """Checks each transform against the fields before it and adapts it on the training
    split; returns the fields after all of them."""
    partial = train_raw
    for i, step in enumerate(steps):
        missing = [f for f in step.inputs if f not in partial.element_spec]
        if missing:
            known = sorted(partial.element_spec)
            errs.add(("data", "transforms", i), f"unknown field '{missing[0]}'",
                     expected=f"one of {known}", suggestion=did_you_mean(missing[0], known))
            errs.raise_if_any()
        wrong = dtype_problem(step, partial.element_spec)
        if wrong:
            errs.add(("data", "transforms", i), wrong[0], expected=wrong[1])
            errs.raise_if_any()
        problem = step.problem(partial.element_spec)
        if problem:
            errs.add(("data", "transforms", i, *problem[0]), problem[1], expected=problem[2],
                     key=problem[3])
            errs.raise_if_any()
        if not step.restructuring:
            step.adapt(partial)
        partial = _apply_steps(partial, [step], training=False)
    return dict(partial.element_spec)


def _check_shapes(config: DataConfig, fields: Fields, features: Mapping[str, str],
                  targets: Mapping[str, str], inputs: ModelIO, outputs: ModelIO,
                  errs: Collector) -> None:
    """Each fed field's dtype and shape against the model input / output it feeds."""
    for kind, mapping, io, fits in (("input", features, inputs, _shape_fits),
                                    ("output", targets, outputs, _target_fits)):
        key = "features" if kind == "input" else "targets"
        for name, fld in mapping.items():
            shape = tuple(fields[fld].shape)
            if kind == "input" and (fields[fld].dtype == tf.string) != (io[name][1] == "string"):
                errs.add(config.mapping_path(key, name), f"field '{fld}' is "
                         f"{fields[fld].dtype.name} but model input '{name}' is {io[name][1]}",
                         expected="a lookup, hashing or tokenize transform for text fields, "
                         "or a string model input")
            elif not fits(shape, io[name][0]):
                errs.add(config.mapping_path(key, name),
                         f"field '{fld}' has shape {shape} but model {kind} '{name}' expects "
                         f"{tuple(io[name][0])}",
                         expected=f"a field of shape {tuple(io[name][0])} (add a reshape, "
                         "resize or one_hot transform?)")
    errs.raise_if_any()


def _augmenters(config: DataConfig, features: Mapping[str, str], fields: Fields,
                errs: Collector) -> list[tuple[str, Any]]:
    """`data.augment`'s (field, Keras layer) pairs; an entry without `field` augments the
    model's single image input."""
    image_inputs = [f for f in features.values() if fields[f].shape.rank in (3, 4)]
    default_field = image_inputs[0] if len(set(image_inputs)) == 1 else None
    for i, entry in enumerate(config.augment):
        fld = entry.get("field", default_field)
        if fld is None or fld not in fields:
            errs.add(("data", "augment", i), "augmentation needs a field: "
                     + ("no single image input" if fld is None else f"unknown field '{fld}'"),
                     expected=f"field: one of {sorted(fields)}")
    errs.raise_if_any()
    return make_augmenters([dict(entry) for entry in config.augment], default_field, config.seed)


def _to_model(features: Mapping[str, str], targets: Mapping[str, str],
              weights: Mapping[str, str], inputs: ModelIO,
              with_targets: bool) -> Callable[[dict[str, Any]], Any]:
    """Batch of fields → what the model takes: inputs (cast to the inputs' dtypes), targets,
    and the per-output sample weights (ones for outputs without a weight field)."""
    in_dtypes = {n: io[1] for n, io in inputs.items()}

    def to_model(batch: dict[str, Any]) -> Any:
        x = {n: (tf.cast(batch[f], in_dtypes[n]) if in_dtypes[n] not in ("string", None)
                 and batch[f].dtype != tf.string else batch[f]) for n, f in features.items()}
        if not with_targets:
            return x
        y = {n: batch[f] for n, f in targets.items()}
        if not weights:
            return x, y
        ones = tf.ones(tf.shape(next(iter(y.values())))[:1], tf.float32)
        return x, y, {n: tf.reshape(tf.cast(batch[weights[n]], tf.float32), [-1])
                      if n in weights else ones for n in targets}
    return to_model


@dataclass
class _Plan:
    """What every split's pipeline shares: the transforms (those before `cut` are cached,
    the random ones after it run every epoch), the augmenters and the final mapping."""

    config: DataConfig
    source: Any
    steps: list[Step]
    cut: int
    augmenters: list[tuple[str, Any]]
    to_model: Callable[[dict[str, Any]], Any]


def _cached(plan: _Plan, ds: tf.data.Dataset, known: int,
            training: bool) -> tuple[tf.data.Dataset, int]:
    """The deterministic transforms, then the cache; returns the dataset and its count."""
    steps = plan.steps[:plan.cut]
    ds = _apply_steps(ds, steps, training)
    count = _count(ds, known if not any(_changes_count(s) for s in steps) else None)
    # arrays already in memory need no cache unless something was computed from them
    worth = plan.cut > 0 or getattr(plan.source, "decode", None) is not None or \
        not hasattr(plan.source, "arrays")
    if plan.config.cache and worth:
        ds = ds.cache()
    return ds, count


def _split_dataset(plan: _Plan, bundle: DataBundle, name: str, ds: tf.data.Dataset,
                   known: int, errs: Collector) -> tuple[tf.data.Dataset, int]:
    """One split's batched pipeline (see the module doc) and its number of examples."""
    config, training = plan.config, name == "train"
    _check_mapped_values(ds, plan.steps, name, errs)
    ds, count = _cached(plan, ds, known, training)
    random_steps = plan.steps[plan.cut:]
    if any(_changes_count(s) for s in random_steps):
        tail_count = _count(_apply_steps(ds, random_steps, training, counting=True), None)
    else:
        tail_count = count
    shuffled = training and config.shuffle is not False
    if shuffled:
        bundle.epoch = bundle.epoch if bundle.epoch is not None else epoch_counter()
        ds = epoch_shuffle(ds, config.shuffle_buffer(count), config.seed, bundle.epoch)
    ds = _apply_steps(ds, random_steps, training)
    # After a shuffle, how many windows/pairs a restructuring step yields depends on the
    # order (windows across chunk edges are dropped), so the count is an estimate there:
    # take exactly that many, wrapping into the next shuffled pass for the few missing.
    if shuffled and any(s.restructuring for s in random_steps):
        ds = ds.repeat().take(tail_count)
    elif tail_count != count or int(ds.cardinality()) < 0:
        ds = ds.apply(tf.data.experimental.assert_cardinality(tail_count))
    if tail_count == 0:
        errs.add(config.split_path(name, otherwise=("data",)),
                 f"split '{name}' has no examples after the transforms",
                 expected="a longer split (or a shorter window, or filter values "
                 "that occur in it)")
        errs.raise_if_any()
    ds = ds.batch(config.batch_size, drop_remainder=config.drop_remainder,
                  num_parallel_calls=AUTOTUNE, deterministic=True)
    if training and plan.augmenters:
        augmenters = plan.augmenters
        ds = ds.map(lambda b: augment_batch(b, augmenters), num_parallel_calls=AUTOTUNE)
        bundle.random_layers = [layer for _, layer in augmenters]
    ds = ds.map(plan.to_model, num_parallel_calls=AUTOTUNE)
    if config.prefetch:
        ds = ds.prefetch(AUTOTUNE)
    return ds, tail_count


def build_datasets(spec: Any, inputs: ModelIO, outputs: ModelIO,
                   splits: Collection[str] | None = None) -> DataBundle:
    """Builds the batched datasets of a spec's `data:` section for a model.

    Args:
        spec: A `CheckedSpec` with a `data:` section.
        inputs: Model input name → (shape without batch dim, dtype), e.g. from
            `compiler.model_io(model)`.
        outputs: Model output name → (shape, dtype); `{}` for models trained without targets
            (the datasets then yield the inputs dict only).
        splits: The splits to build (None: every configured split). The transforms are
            adapted on the training split whatever is asked, so `preprocessing` is always
            complete; `()` builds only that (what an export needs): the splits' datasets,
            and the passes that count their examples, are skipped.

    Returns:
        A `DataBundle`.

    Raises:
        SpecError: Missing files, unknown fields or splits, a field whose shape does not fit
            the model input it feeds (naming both), or an empty split.

    Example:
    >>> bundle = build_datasets(spec, {"image": ((8, 8, 1), "float32")},
    ...                         {"digit": ((10,), "float32")})
    >>> model.fit(bundle.train, validation_data=bundle.validation)
    """
    config = DataConfig.from_spec(spec)  # the one place the section becomes typed
    errs = spec.errors()
    source = load_source(config.source_config(), spec.base_dir, errs)
    selected = _select_splits(config, source, errs)
    steps = [make_step(dict(c)) for c in config.transforms]
    train_raw = selected["train"][0]
    fields = _adapt_steps(steps, train_raw, errs)
    features = _mapping(config, "features", list(inputs), fields, errs)
    targets = _mapping(config, "targets", list(outputs), fields, errs)
    weights = weight_fields(config.sample_weights, outputs, fields, errs)
    errs.raise_if_any()
    _check_shapes(config, fields, features, targets, inputs, outputs, errs)
    plan = _Plan(config, source, steps, cut=next((i for i, s in enumerate(steps) if s.random),
                                                 len(steps)),
                 augmenters=_augmenters(config, features, fields, errs),
                 to_model=_to_model(features, targets, weights, inputs, bool(outputs)))
    bundle = DataBundle(features=features, targets=targets, sample_weights=dict(weights),
                        fields=fields, meta=dict(source.meta), batch_size=config.batch_size)
    if "class_names" in bundle.meta:
        bundle.meta["class_names"] = class_names_after(bundle.meta["class_names"], steps)
        if bundle.meta["class_names"] is None:
            del bundle.meta["class_names"]
    for name, (ds, known) in selected.items():
        if splits is None or name in splits:
            dataset, bundle.counts[name] = _split_dataset(plan, bundle, name, ds, known, errs)
            setattr(bundle, name, dataset)
    bundle.element_spec = bundle.train.element_spec if bundle.train is not None else None
    bundle.preprocessing = build_preprocessing(steps, features, dict(train_raw.element_spec),
                                               {n: io[1] for n, io in inputs.items()})
    bundle.raw_train = train_raw
    return bundle


def spec_datasets(spec: Any, feed: DataFeed | None = None
                  ) -> Callable[[dict[str, Any]], DataBundle]:
    """Returns a function that builds the spec's `DataBundle` for the built models.

    Args:
        spec: A `CheckedSpec`.
        feed: Which model the data feeds, with or without targets (the training loop's
            choice, `TrainConfig.data_feed`); None: the only model, with its targets.
    """
    feed = feed or DataFeed()

    def make(models: dict[str, Any]) -> DataBundle:
        inputs, outputs = model_io(feed.pick(models))
        return build_datasets(spec, inputs, outputs if feed.targets else {})
    return make
