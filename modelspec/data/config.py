"""The `data:` section, typed: `DataConfig`, built once from the checked, resolved section.

`modelspec.data.pipeline.build_datasets` builds it (`DataConfig.from_spec`) and reads it
instead of the raw mapping, so each key's default is written here only. The source, the
transforms and the augmentations stay mappings: their registries (`modelspec.data.sources`,
`transforms.make_step`, `augment.make_augmenters`) read them, each by its own arguments.
No TensorFlow here.

Example:
>>> config = DataConfig.from_section({"source": {"type": "sklearn", "name": "digits"},
...                                   "batch_size": 16})
>>> config.batch_size, config.shuffle, config.cache, config.seed
(16, True, True, 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelspec.errors import Collector

Section = Mapping[str, Any]
PathT = tuple[Any, ...]

DEFAULT_BATCH_SIZE = 32
MAX_SHUFFLE_BUFFER = 100_000


@dataclass(frozen=True)
class DataFeed:
    """Which of the built models the data feeds, as the training loop decides it
    (`modelspec.training.config.TrainConfig.data_feed`): the data package reads no `train:`.

    Args:
        model: The fed model's name among several; None: the one named `model`.
        targets: Whether the data yields the model's targets (an adversarial loop feeds its
            discriminator real samples only, without targets).
    """

    model: str | None = None
    targets: bool = True

    def pick(self, models: Mapping[str, Any]) -> Any:
        """The fed model among the built ones (the only one, whatever its name)."""
        if len(models) == 1:
            return next(iter(models.values()))
        return models[self.model or "model"]


@dataclass(frozen=True)
class DataConfig:
    """A checked, resolved `data:` section (see `docs/LANGUAGE.md` for each key).

    Args:
        source: `data.source` (its type picks the loader in `modelspec.data.sources`).
        features, targets, sample_weights: Model input / output name → source field, as
            the spec writes them (names it leaves out are fed by the field of the same name).
        splits: Split name → split expression; None: the source's own splits.
        split_shuffle: Shuffle before slicing a split (None: the source's default).
        transforms: `data.transforms`, in order.
        augment: `data.augment` (training batches only).
        batch_size: Examples per batch.
        shuffle: True (a buffer as large as the split), False, or a buffer size.
        cache: Cache the transformed examples (where it saves work).
        prefetch: Prefetch batches.
        drop_remainder: Drop a last, smaller batch.
        seed: Seeds splitting, shuffling, augmentation and generated sources.
    """

    source: Section
    features: Mapping[str, str] = field(default_factory=dict)
    targets: Mapping[str, str] = field(default_factory=dict)
    sample_weights: Mapping[str, str] = field(default_factory=dict)
    splits: Mapping[str, str] | None = None
    split_shuffle: bool | None = None
    transforms: tuple[Section, ...] = ()
    augment: tuple[Section, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    shuffle: bool | int = True
    cache: bool = True
    prefetch: bool = True
    drop_remainder: bool = False
    seed: int = 0
    given: frozenset[str] = frozenset()

    @classmethod
    def from_section(cls, section: Section) -> DataConfig:
        """The typed form of a resolved `data:` section (the schema has checked it)."""
        shuffle = section.get("shuffle", True)
        return cls(source=dict(section["source"]),
                   features=dict(section.get("features") or {}),
                   targets=dict(section.get("targets") or {}),
                   sample_weights=dict(section.get("sample_weights") or {}),
                   splits=dict(section["splits"]) if section.get("splits") else None,
                   split_shuffle=section.get("split_shuffle"),
                   transforms=tuple(section.get("transforms") or ()),
                   augment=tuple(section.get("augment") or ()),
                   batch_size=int(section.get("batch_size", DEFAULT_BATCH_SIZE)),
                   shuffle=shuffle if shuffle is True or shuffle is False else int(shuffle),
                   cache=bool(section.get("cache", True)),
                   prefetch=bool(section.get("prefetch", True)),
                   drop_remainder=bool(section.get("drop_remainder", False)),
                   seed=int(section.get("seed", 0)), given=frozenset(section))

    @classmethod
    def from_spec(cls, spec: Any) -> DataConfig:
        """The `data:` section of a `CheckedSpec`.

        Raises:
            SpecError: The spec has no `data:` section.
        """
        section = spec.section("data")
        if section is None:
            errs: Collector = spec.errors()
            errs.add((), "the spec has no data: section", expected="data: {source: ...}")
            errs.raise_if_any()
        return cls.from_section(section)

    def source_config(self) -> dict[str, Any]:
        """`data.source`, with `data.seed` as the seed of a generated source without one."""
        source = dict(self.source)
        if source["type"] == "generated":
            source.setdefault("seed", self.seed)
        return source

    def shuffle_buffer(self, count: int) -> int:
        """The shuffle buffer for a split of `count` examples (`shuffle` must be on)."""
        buffer = count if self.shuffle is True else int(self.shuffle)
        return max(1, min(buffer, MAX_SHUFFLE_BUFFER))

    def split_path(self, name: str, otherwise: PathT = ("data", "source")) -> PathT:
        """Where a problem of split `name` is reported: `data.splits.<name>` when the spec
        lists splits, else `otherwise` (by default `data.source`: the source's splits)."""
        return ("data", "splits", name) if "splits" in self.given else otherwise

    def mapping_path(self, key: str, name: str) -> PathT:
        """Where a problem of model input/output `name` is reported: its entry of
        `data.<key>` (features, targets) when the spec writes one, else `data`."""
        return ("data", key, name) if name in self.mapping(key) else ("data",)

    def mapping(self, key: str) -> Mapping[str, str]:
        """`features`, `targets` or `sample_weights` by name."""
        return {"features": self.features, "targets": self.targets,
                "sample_weights": self.sample_weights}[key]
