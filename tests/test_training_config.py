"""`TrainConfig`: the `train:` section typed once, every default in one place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modelspec.training.config import (
    CallbacksConfig,
    InitFromConfig,
    PretrainConfig,
    RuntimeConfig,
    ThreadsConfig,
    TrainConfig,
)

REPO = Path(__file__).resolve().parents[1]


def test_defaults_of_an_empty_section():
    config = TrainConfig.from_section({})
    assert (config.kind, config.epochs, config.model, config.loss) == ("supervised", 1, None, None)
    assert config.fit_arguments == {} and config.class_weight is None
    assert config.runtime == RuntimeConfig() and config.init_from is None
    assert config.pretrain is None and config.verbose is None
    callbacks = config.callbacks
    assert callbacks.tensorboard is True and callbacks.csv_log is True
    assert callbacks.early_stopping is None and callbacks.plugins == {}
    assert callbacks.checkpoint.monitor_for(True) == "val_loss"
    assert callbacks.checkpoint.monitor_for(False) == "loss"
    adversarial = config.adversarial
    assert (adversarial.generator, adversarial.discriminator) == ("generator", "discriminator")
    assert adversarial.loss == {"type": "BinaryCrossentropy", "from_logits": True}
    assert adversarial.reconstruction is None and adversarial.samples.count == 16
    assert config.distribute.strategy is None and not config.distribute.multi_worker


def test_a_full_section_is_read_into_its_parts():
    section = {
        "type": "adversarial", "epochs": 7, "seed": 3, "deterministic": False,
        "precision": "mixed_float16", "jit_compile": True, "steps_per_execution": 4,
        "threads": {"inter_op": 2}, "steps_per_epoch": 10, "validation_freq": 2,
        "optimizer": {"type": "Adam", "learning_rate": 0.1},
        "optimizers": {"discriminator": "sgd"}, "loss": "mse", "label_smoothing": 0.1,
        "noise": {"input": "z", "distribution": "uniform", "minval": 0.0},
        "samples": {"every": 5, "output": "image"}, "reconstruction": {"weight": 100},
        "discriminator_steps": 2, "distribute": {"strategy": "multi_worker"},
        "callbacks": {"checkpoint": {"monitor": "val_accuracy", "mode": "max"},
                      "early_stopping": {"patience": 3}, "tensorboard": False},
        "init_from": {"run": "runs/small", "layers": ["h1"]},
    }
    config = TrainConfig.from_section(section)
    assert config.kind == "adversarial" and config.epochs == 7 and config.seed == 3
    assert config.fit_arguments == {"steps_per_epoch": 10, "validation_freq": 2}
    assert config.runtime == RuntimeConfig(seed=3, deterministic=False,
                                           precision="mixed_float16", jit_compile=True,
                                           steps_per_execution=4,
                                           threads=ThreadsConfig(inter_op=2))
    assert not config.runtime.seeded_determinism  # deterministic: false next to the seed
    gan = config.adversarial
    assert gan.generator_optimizer == {"type": "Adam", "learning_rate": 0.1}  # train.optimizer
    assert gan.discriminator_optimizer == "sgd"  # its own
    assert gan.loss == "mse" and gan.label_smoothing == 0.1 and gan.discriminator_steps == 2
    assert (gan.noise.input, gan.noise.distribution, gan.noise.minval, gan.noise.maxval) == \
        ("z", "uniform", 0.0, 1.0)
    assert (gan.samples.every, gan.samples.count, gan.samples.output) == (5, 16, "image")
    assert gan.reconstruction is not None and gan.reconstruction.loss == "mae"
    assert gan.reconstruction.weight == 100.0
    assert config.distribute.multi_worker
    assert config.distribute.section == {"strategy": "multi_worker"}
    assert config.callbacks.checkpoint.monitor_for(True) == "val_accuracy"
    assert config.callbacks.tensorboard is False
    assert config.callbacks.early_stopping == {"patience": 3}
    assert config.init_from == InitFromConfig(run="runs/small", layers=("h1",))
    assert config.section == section  # what the multi-worker loop reads


def test_callbacks_keep_plugins_and_switched_off_ones():
    config = CallbacksConfig.from_section({"tensorboard": {"update_freq": "batch"},
                                           "csv_log": False, "my_plugin": {"every": 2},
                                           "reduce_lr_on_plateau": None})
    assert config.tensorboard == {"update_freq": "batch"} and config.csv_log is False
    assert config.plugins == {"my_plugin": {"every": 2}}
    assert config.reduce_lr_on_plateau == {}  # given without arguments: Keras's defaults
    assert config.given == ("tensorboard", "csv_log", "my_plugin", "reduce_lr_on_plateau")


def test_pretrain_defaults():
    config = TrainConfig.from_section({"type": "layerwise",
                                       "pretrain": {"layers": ["h1", "h2"]}}).pretrain
    assert config == PretrainConfig(layers=("h1", "h2"))
    assert (config.epochs, config.loss, config.noise, config.corruption) == \
        (1, "mse", 0.0, "gaussian")


def test_of_keeps_a_config_and_reads_a_mapping():
    config = TrainConfig.from_section({"loss": "mse"})
    assert TrainConfig.of(config) is config
    assert TrainConfig.of({"loss": "mse"}) == config


def test_the_data_feeds_the_trained_model_or_the_discriminator():
    from modelspec.data.config import DataFeed
    assert TrainConfig.from_section({}).data_feed() == DataFeed(None, targets=True)
    assert TrainConfig.from_section({"model": "student"}).data_feed() == DataFeed("student")
    feed = TrainConfig.from_section({"type": "adversarial", "discriminator": "critic"}
                                    ).data_feed()
    assert feed == DataFeed("critic", targets=False)
    assert feed.pick({"gen": 1, "critic": 2}) == 2
    assert DataFeed().pick({"only": 1}) == 1 and DataFeed().pick({"a": 1, "model": 2}) == 2


def test_the_typed_sections_import_no_tensorflow():
    code = ("import sys, modelspec.training.config, modelspec.training.context, "
            "modelspec.data.config, modelspec.training.loop_schemas; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr
