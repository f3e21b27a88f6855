"""`DataConfig`: the `data:` section typed once, every default in one place."""

from __future__ import annotations

import pytest

from modelspec.data.config import MAX_SHUFFLE_BUFFER, DataConfig
from modelspec.errors import SpecError

DIGITS = {"type": "sklearn", "name": "digits"}


def test_defaults():
    config = DataConfig.from_section({"source": DIGITS})
    assert (config.batch_size, config.shuffle, config.cache, config.prefetch) == \
        (32, True, True, True)
    assert (config.drop_remainder, config.seed, config.splits) == (False, 0, None)
    assert config.transforms == () and config.augment == () and config.features == {}


def test_shuffle_buffer_is_the_split_or_the_given_size_within_bounds():
    assert DataConfig.from_section({"source": DIGITS}).shuffle_buffer(1000) == 1000
    assert DataConfig.from_section({"source": DIGITS}).shuffle_buffer(0) == 1
    assert DataConfig.from_section({"source": DIGITS, "shuffle": 64}).shuffle_buffer(1000) == 64
    big = DataConfig.from_section({"source": DIGITS, "shuffle": 10 ** 7})
    assert big.shuffle_buffer(10) == MAX_SHUFFLE_BUFFER
    assert DataConfig.from_section({"source": DIGITS, "shuffle": False}).shuffle is False


def test_a_generated_source_takes_the_data_seed_unless_it_has_one():
    generated = {"type": "generated", "name": "xor"}
    assert DataConfig.from_section({"source": generated, "seed": 5}).source_config()["seed"] == 5
    own = DataConfig.from_section({"source": dict(generated, seed=1), "seed": 5})
    assert own.source_config()["seed"] == 1
    assert "seed" not in DataConfig.from_section({"source": DIGITS}).source_config()


def test_problem_paths_point_at_what_the_spec_writes():
    listed = DataConfig.from_section({"source": DIGITS, "splits": {"train": "all[:80%]"},
                                      "features": {"image": "images"}})
    assert listed.split_path("train") == ("data", "splits", "train")
    assert listed.mapping_path("features", "image") == ("data", "features", "image")
    assert listed.mapping_path("targets", "digit") == ("data",)
    bare = DataConfig.from_section({"source": DIGITS})
    assert bare.split_path("train") == ("data", "source")
    assert bare.split_path("train", otherwise=("data",)) == ("data",)


def test_from_spec_without_a_data_section_is_a_spec_error():
    import modelspec
    spec = modelspec.load_spec("modelspec: 1\nname: t\nmodel:\n  inputs: {x: {shape: [2]}}\n"
                               "  layers: [{type: Dense, units: 1}]\n")
    with pytest.raises(SpecError, match="the spec has no data: section"):
        DataConfig.from_spec(spec)
