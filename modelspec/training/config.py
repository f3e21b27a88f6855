"""The `train:` section, typed: `TrainConfig`, built once from the checked, resolved section.

`modelspec.training.run` builds it (`TrainConfig.from_section`) and hands it to the loops,
the runtime settings and the callbacks instead of the raw mapping, so each key's default is
written here only. The JSON Schema of the section is `modelspec.training.schema`; what it
accepts, these objects hold (components such as an optimizer or a loss stay the spec's value,
`"adam"` or `{type: Adam, ...}`: `modelspec.training.objects` makes the Keras object).
No TensorFlow here.

Example:
>>> config = TrainConfig.from_section({"epochs": 3, "loss": "mse", "seed": 1})
>>> config.epochs, config.kind, config.runtime.seed, config.callbacks.checkpoint.mode
(3, 'supervised', 1, 'auto')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelspec.data.config import DataFeed

# a Keras component as the spec writes it: a name, or {type: Name, argument: value, ...}
Component = str | Mapping[str, Any]
Section = Mapping[str, Any]

DEFAULT_LOOP = "supervised"
# epoch checkpoints kept at least: the one in use and the previous one, which `state.json`
# names as the fallback when the newest is found damaged (`modelspec.training.checkpoints`)
KEEP_AT_LEAST = 2
_FIT_KEYS = ("steps_per_epoch", "validation_steps", "validation_freq")


def _section(value: Any) -> Section:
    """A sub-mapping of the section; `{}` for an absent (or switched-off) one."""
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class CheckpointConfig:
    """`train.callbacks.checkpoint`: which metric decides the `best` checkpoint, and how many
    epoch checkpoints stay in the run directory.

    Args:
        monitor: The metric; None: `val_loss` with validation data, else `loss`.
        mode: `auto`, `min` or `max`.
        keep: The newest epoch checkpoints kept (`checkpoints/epoch-NNNN/`, besides `best/`);
            None: `KEEP_AT_LEAST`, which is also the least the schema accepts.
    """

    monitor: str | None = None
    mode: str = "auto"
    keep: int | None = None

    @classmethod
    def from_section(cls, section: Section) -> CheckpointConfig:
        return cls(monitor=section.get("monitor"), mode=section.get("mode", "auto"),
                   keep=section.get("keep"))

    def monitor_for(self, has_validation: bool) -> str:
        """The monitored metric, given whether a validation split exists."""
        return self.monitor or ("val_loss" if has_validation else "loss")


@dataclass(frozen=True)
class CallbacksConfig:
    """`train.callbacks`: Keras callbacks the spec asks for (their arguments are Keras's).

    Args:
        early_stopping: `keras.callbacks.EarlyStopping` arguments, or None (not asked for).
        reduce_lr_on_plateau: `keras.callbacks.ReduceLROnPlateau` arguments, or None.
        tensorboard: False, True (Keras's defaults) or `keras.callbacks.TensorBoard` arguments.
        csv_log: Write `training.csv`.
        checkpoint: The `best` checkpoint's monitor.
        plugins: Callback name → value, for callbacks registered from Python.
        given: The names the spec writes (what the loops' key checks look at).
    """

    early_stopping: Section | None = None
    reduce_lr_on_plateau: Section | None = None
    tensorboard: bool | Section = True
    csv_log: bool = True
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    plugins: Mapping[str, Any] = field(default_factory=dict)
    given: tuple[str, ...] = ()

    _BUILT_IN = ("early_stopping", "reduce_lr_on_plateau", "tensorboard", "csv_log",
                 "checkpoint", "terminate_on_nan")

    @classmethod
    def from_section(cls, section: Section | None) -> CallbacksConfig:
        section = section or {}

        def args(key: str) -> Section | None:
            return dict(section[key] or {}) if key in section else None

        tensorboard = section.get("tensorboard", True)
        return cls(early_stopping=args("early_stopping"),
                   reduce_lr_on_plateau=args("reduce_lr_on_plateau"),
                   tensorboard=tensorboard if isinstance(tensorboard, Mapping)
                   else bool(tensorboard),
                   csv_log=bool(section.get("csv_log", True)),
                   checkpoint=CheckpointConfig.from_section(_section(section.get("checkpoint"))),
                   plugins={k: v for k, v in section.items() if k not in cls._BUILT_IN},
                   given=tuple(section))


@dataclass(frozen=True)
class ThreadsConfig:
    """`train.threads`: TensorFlow's CPU thread pools (None: TensorFlow's choice)."""

    intra_op: int | None = None
    inter_op: int | None = None

    @classmethod
    def from_section(cls, section: Section) -> ThreadsConfig:
        return cls(intra_op=section.get("intra_op"), inter_op=section.get("inter_op"))


@dataclass(frozen=True)
class RuntimeConfig:
    """Seed, determinism, precision, threads and XLA (`modelspec.training.runtime`).

    Args:
        seed: `train.seed`; None leaves the random state alone.
        deterministic: `train.deterministic`; None: on whenever a seed is given.
        precision: Keras's dtype policy (`float32`, `mixed_float16`, `mixed_bfloat16`).
        jit_compile: `train.jit_compile` (True, False, "auto"); None: the measured default.
        steps_per_execution: `train.steps_per_execution`; None: the measured default.
        threads: `train.threads`; None: the measured CPU default.
    """

    seed: int | None = None
    deterministic: bool | None = None
    precision: str | None = None
    jit_compile: bool | str | None = None
    steps_per_execution: int | None = None
    threads: ThreadsConfig | None = None

    @classmethod
    def from_section(cls, section: Section) -> RuntimeConfig:
        threads = section.get("threads")
        return cls(seed=section.get("seed"), deterministic=section.get("deterministic"),
                   precision=section.get("precision"), jit_compile=section.get("jit_compile"),
                   steps_per_execution=section.get("steps_per_execution"),
                   threads=ThreadsConfig.from_section(threads) if threads is not None
                   else None)

    @property
    def seeded_determinism(self) -> bool:
        """True when a seed turns op determinism on (unless `deterministic: false`)."""
        return self.seed is not None and self.deterministic is not False


@dataclass(frozen=True)
class DistributeConfig:
    """`train.distribute`: the tf.distribute strategy (`modelspec.training.distribute`).

    Args:
        strategy: `default`, `one_device`, `mirrored`, `multi_worker`; None: the default.
        section: The mapping itself, as `distribute.make_strategy` reads it.
    """

    strategy: str | None = None
    section: Section = field(default_factory=dict)

    @classmethod
    def from_section(cls, section: Section) -> DistributeConfig:
        return cls(strategy=section.get("strategy"), section=dict(section))

    @property
    def multi_worker(self) -> bool:
        return self.strategy == "multi_worker"


@dataclass(frozen=True)
class InitFromConfig:
    """`train.init_from`: start from an earlier run's weights (`training.warmstart`).

    Args:
        run: The earlier run directory (relative to the spec's folder).
        weights: Which of its weights: `final`, `best` or `latest`.
        layers: The layers to copy (None: every layer of the same name).
        grow: `net2net` to widen and deepen Dense layers (Net2Net).
    """

    run: str
    weights: str = "final"
    layers: tuple[str, ...] | None = None
    grow: str | None = None

    @classmethod
    def from_section(cls, section: Section) -> InitFromConfig:
        layers = section.get("layers")
        return cls(run=section["run"], weights=section.get("weights", "final"),
                   layers=tuple(layers) if layers else None, grow=section.get("grow"))


@dataclass(frozen=True)
class NoiseConfig:
    """`train.noise`: the generator's noise input and its distribution."""

    input: str | None = None
    distribution: str = "normal"
    stddev: float = 1.0
    minval: float = -1.0
    maxval: float = 1.0

    @classmethod
    def from_section(cls, section: Section) -> NoiseConfig:
        return cls(input=section.get("input"),
                   distribution=section.get("distribution", "normal"),
                   stddev=section.get("stddev", 1.0), minval=section.get("minval", -1.0),
                   maxval=section.get("maxval", 1.0))


@dataclass(frozen=True)
class SamplesConfig:
    """`train.samples`: a grid of generated samples saved every `every` epochs."""

    every: int = 1
    count: int = 16
    output: str | None = None  # None: the generator's first output

    @classmethod
    def from_section(cls, section: Section) -> SamplesConfig:
        return cls(every=int(section.get("every", 1)), count=int(section.get("count", 16)),
                   output=section.get("output"))


@dataclass(frozen=True)
class ReconstructionConfig:
    """`train.reconstruction`: an extra generator loss towards the real samples (pix2pix)."""

    loss: Component = "mae"
    weight: float = 0.0

    @classmethod
    def from_section(cls, section: Section) -> ReconstructionConfig:
        return cls(loss=section.get("loss", "mae"), weight=float(section.get("weight", 0.0)))


@dataclass(frozen=True)
class AdversarialConfig:
    """The keys of the adversarial loop (`modelspec.training.loops.adversarial`).

    Args:
        generator, discriminator: The models' names.
        noise: The generator's noise input.
        generator_optimizer, discriminator_optimizer: `train.optimizers.<role>`, else
            `train.optimizer` (None: Adam).
        discriminator_steps, generator_steps: Steps of each per batch.
        label_smoothing: One-sided smoothing of the real labels.
        samples: The sample grids.
        reconstruction: The pix2pix term, or None.
        loss: The adversarial loss (default: binary cross-entropy on logits).
    """

    generator: str = "generator"
    discriminator: str = "discriminator"
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    generator_optimizer: Component | None = None
    discriminator_optimizer: Component | None = None
    discriminator_steps: int = 1
    generator_steps: int = 1
    label_smoothing: float = 0.0
    samples: SamplesConfig = field(default_factory=SamplesConfig)
    reconstruction: ReconstructionConfig | None = None
    loss: Component = field(default_factory=lambda: {"type": "BinaryCrossentropy",
                                                      "from_logits": True})

    @classmethod
    def from_section(cls, section: Section) -> AdversarialConfig:
        optimizers = _section(section.get("optimizers"))
        reconstruction = _section(section.get("reconstruction"))
        return cls(
            generator=section.get("generator", "generator"),
            discriminator=section.get("discriminator", "discriminator"),
            noise=NoiseConfig.from_section(_section(section.get("noise"))),
            generator_optimizer=optimizers.get("generator", section.get("optimizer")),
            discriminator_optimizer=optimizers.get("discriminator", section.get("optimizer")),
            discriminator_steps=int(section.get("discriminator_steps", 1)),
            generator_steps=int(section.get("generator_steps", 1)),
            label_smoothing=float(section.get("label_smoothing", 0.0)),
            samples=SamplesConfig.from_section(_section(section.get("samples"))),
            reconstruction=ReconstructionConfig.from_section(reconstruction)
            if reconstruction else None,
            **({"loss": section["loss"]} if section.get("loss") else {}))


@dataclass(frozen=True)
class PretrainConfig:
    """`train.pretrain`: greedy layer-wise autoencoder pretraining (`loops.layerwise`).

    Args:
        layers: The Dense layers' ids, from the input upwards.
        epochs: Epochs per layer.
        optimizer: Each autoencoder's optimizer (None: Adam).
        loss: The reconstruction loss.
        noise: The corruption's strength (0: none).
        corruption: `gaussian` noise or `dropout` masking.
        decoder_activation: The decoder layer's activation (None: linear).
    """

    layers: tuple[str, ...]
    epochs: int = 1
    optimizer: Component | None = None
    loss: Component = "mse"
    noise: float = 0.0
    corruption: str = "gaussian"
    decoder_activation: str | None = None

    @classmethod
    def from_section(cls, section: Section) -> PretrainConfig:
        return cls(layers=tuple(section.get("layers") or ()),
                   epochs=int(section.get("epochs", 1)), optimizer=section.get("optimizer"),
                   loss=section.get("loss", "mse"), noise=float(section.get("noise", 0.0)),
                   corruption=section.get("corruption", "gaussian"),
                   decoder_activation=section.get("decoder_activation"))


@dataclass(frozen=True)
class TrainConfig:
    """A checked, resolved `train:` section (see `docs/LANGUAGE.md` for each key).

    Args:
        kind: The loop (`train.type`): supervised, adversarial or layerwise.
        model: In a `models:` spec, the model the supervised loop trains.
        epochs: Epochs in total.
        optimizer: The optimizer as the spec writes it (None: Adam).
        loss: One loss, or output name → loss (None: not given).
        loss_weights: Output name → weight, or a list in output order.
        metrics, weighted_metrics: A list for every output, or output name → list.
        class_weight: Class index (a string) → weight.
        fit_arguments: `steps_per_epoch`, `validation_steps`, `validation_freq` as given.
        verbose: `train.verbose` (None: not given).
        callbacks, runtime, distribute, init_from, adversarial, pretrain: The typed parts.
        section: The resolved section itself (what the multi-worker loop still reads).
    """

    kind: str = DEFAULT_LOOP
    model: str | None = None
    epochs: int = 1
    optimizer: Component | None = None
    loss: Any = None
    loss_weights: Any = None
    metrics: Any = None
    weighted_metrics: Any = None
    class_weight: Mapping[str, float] | None = None
    fit_arguments: Mapping[str, int] = field(default_factory=dict)
    verbose: int | str | None = None
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    distribute: DistributeConfig = field(default_factory=DistributeConfig)
    init_from: InitFromConfig | None = None
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    pretrain: PretrainConfig | None = None
    section: Section = field(default_factory=dict)

    @classmethod
    def from_section(cls, section: Section) -> TrainConfig:
        """The typed form of a resolved `train:` section (the schema has checked it)."""
        init_from, pretrain = section.get("init_from"), section.get("pretrain")
        return cls(
            kind=section.get("type", DEFAULT_LOOP), model=section.get("model"),
            epochs=int(section.get("epochs", 1)), optimizer=section.get("optimizer"),
            loss=section.get("loss"), loss_weights=section.get("loss_weights"),
            metrics=section.get("metrics"), weighted_metrics=section.get("weighted_metrics"),
            class_weight=section.get("class_weight") or None,
            fit_arguments={k: section[k] for k in _FIT_KEYS if k in section},
            verbose=section.get("verbose"),
            callbacks=CallbacksConfig.from_section(section.get("callbacks")),
            runtime=RuntimeConfig.from_section(section),
            distribute=DistributeConfig.from_section(_section(section.get("distribute"))),
            init_from=InitFromConfig.from_section(init_from) if init_from else None,
            adversarial=AdversarialConfig.from_section(section),
            pretrain=PretrainConfig.from_section(pretrain)
            if isinstance(pretrain, Mapping) else None,
            section=dict(section))

    @classmethod
    def of(cls, value: TrainConfig | Section) -> TrainConfig:
        """`value` itself, or the config of a raw section (callers holding the mapping)."""
        return value if isinstance(value, TrainConfig) else cls.from_section(value)

    @property
    def seed(self) -> int | None:
        return self.runtime.seed

    def data_feed(self) -> DataFeed:
        """Which model the spec's data feeds: an adversarial loop's discriminator (real
        samples, no targets), else the model the loop trains."""
        if self.kind == "adversarial":
            return DataFeed(self.adversarial.discriminator, targets=False)
        return DataFeed(self.model)
