"""Graph expansion (no TensorFlow): params, blocks, repeat/first/vary, if, ports, shares."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from modelspec.errors import SpecError
from modelspec.lang.checks import load_and_check
from modelspec.lang.expand import Ref


def flat(text: str, name: str = "model", **overrides):
    spec = load_and_check(textwrap.dedent(text).lstrip("\n"), overrides=overrides or None)
    return spec.graphs[name]


def summary(graph):
    return [(n.name, n.type or n.kind, [str(r) for r in n.inputs]) for n in graph.nodes]


def test_chain_and_explicit_inputs():
    g = flat("""
        modelspec: 1
        model:
          inputs: {a: {shape: [4]}, b: {shape: [3]}}
          layers:
            - {id: ha, type: Dense, units: 2, in: a}
            - {id: mid, type: Dense, units: 2}
            - {id: hb, type: Dense, units: 2, in: b}
            - {id: cat, type: Concatenate, in: [ha, hb]}
          outputs: {y: cat, z: mid}
    """)
    assert summary(g) == [
        ("ha", "Dense", ["<input:a>"]), ("mid", "Dense", ["ha"]),
        ("hb", "Dense", ["<input:b>"]), ("cat", "Concatenate", ["ha", "hb"])]
    assert g.outputs == {"y": Ref("cat"), "z": Ref("mid")}


def test_default_output_is_the_last_layer_and_inputs_keep_dtype():
    g = flat("""
        modelspec: 1
        model:
          inputs: {tokens: {shape: [null], dtype: int32}}
          layers:
            - {type: Embedding, input_dim: 10, output_dim: 2}
            - {type: GlobalAveragePooling1D}
    """)
    assert g.inputs["tokens"]["shape"] == [None]
    assert g.inputs["tokens"]["dtype"] == "int32"
    assert g.outputs == {"output": Ref("global_average_pooling1d")}


def test_params_are_resolved_and_overridable():
    text = """
        modelspec: 1
        params: {width: 8, double: $(width * 2), act: relu}
        model:
          inputs: {x: {shape: [$width]}}
          layers:
            - {id: h, type: Dense, units: $double, activation: $act}
    """
    g = flat(text)
    assert g.nodes[0].args == {"units": 16, "activation": "relu"}
    assert g.inputs["x"]["shape"] == [8]
    g = flat(text, width=3)
    assert g.nodes[0].args["units"] == 6 and g.inputs["x"]["shape"] == [3]


def test_unknown_override_is_an_error():
    with pytest.raises(SpecError, match="no parameter 'widht' to override") as info:
        flat("""
            modelspec: 1
            params: {width: 8}
            model:
              inputs: {x: {shape: [4]}}
              layers:
                - {type: Dense, units: $width}
        """, widht=3)
    assert "did you mean 'width'?" in str(info.value)


BLOCKS = """
modelspec: 1
blocks:
  conv_bn:
    params: {filters: required, stride: 1, bn: true}
    layers:
      - {id: conv, type: Conv2D, filters: $filters, kernel_size: 3, strides: $stride}
      - {id: bn, type: BatchNormalization, if: $bn}
  stage:
    params: {filters: required, blocks: 2}
    layers:
      - {id: unit, block: conv_bn, filters: $filters, repeat: $blocks, first: {stride: 2}}
model:
  inputs: {image: {shape: [32, 32, 3]}}
  layers:
    - {id: s1, block: stage, filters: 8}
    - {id: s2, block: stage, filters: 16, blocks: 3, repeat: 2, vary: {filters: [16, 32]}}
    - {type: Flatten, in: s1.unit}
    - {id: out, type: Dense, units: 2}
  outputs: {y: out, features: s2}
"""


def test_nested_blocks_repeat_first_vary_names_and_args():
    g = flat(BLOCKS)
    names = [n.name for n in g.nodes]
    assert names[:4] == ["s1_unit_0_conv", "s1_unit_0_bn", "s1_unit_1_conv", "s1_unit_1_bn"]
    assert "s2_1_unit_2_bn" in names and "flatten" in names
    conv = {n.name: n.args for n in g.nodes if n.type == "Conv2D"}
    assert conv["s1_unit_0_conv"]["strides"] == 2 and conv["s1_unit_1_conv"]["strides"] == 1
    assert conv["s2_0_unit_0_conv"]["filters"] == 16 and conv["s2_1_unit_0_conv"]["filters"] == 32
    assert sum(1 for n in names if n.startswith("s2_")) == 2 * 3 * 2
    # each copy reads the previous one; a block's first layer reads the block input
    by_name = g.node
    assert by_name("s1_unit_1_conv").inputs == [Ref("s1_unit_0_bn")]
    assert by_name("s2_0_unit_0_conv").inputs == [Ref("s1_unit_1_bn")]
    assert by_name("s2_1_unit_0_conv").inputs == [Ref("s2_0_unit_2_bn")]
    # `s1.unit` names the last copy of the repeated inner block
    assert by_name("flatten").inputs == [Ref("s1_unit_1_bn")]
    assert g.outputs["features"] == Ref("s2_1_unit_2_bn")


def test_repeated_two_input_block_reads_the_two_previous_outputs():
    """NASNet's cells: copy k+1 of a block with inputs [x, skip] reads copy k's output and
    copy k's x; `cells.x` is the last copy's x (the output of the copy before it)."""
    g = flat("""
        modelspec: 1
        blocks:
          cell:
            inputs: [x, skip]
            layers:
              - {id: fc, type: Dense, units: 4, in: x}
              - {id: sum, type: Add, in: [fc, skip]}
        model:
          inputs: {a: {shape: [4]}}
          layers:
            - {id: stem, type: Dense, units: 4}
            - {id: cells, block: cell, in: [stem, a], repeat: 3}
            - {id: last, type: Concatenate, in: [cells, cells.x]}
    """)
    reads = {n.name: [str(r) for r in n.inputs] for n in g.nodes}
    assert reads["cells_0_fc"] == ["stem"] and reads["cells_0_sum"] == ["cells_0_fc", "<input:a>"]
    assert reads["cells_1_fc"] == ["cells_0_sum"] and reads["cells_1_sum"][1] == "stem"
    assert reads["cells_2_fc"] == ["cells_1_sum"] and reads["cells_2_sum"][1] == "cells_0_sum"
    assert reads["last"] == ["cells_2_sum", "cells_1_sum"]


def test_expansion_path_is_recorded_for_messages():
    g = flat(BLOCKS)
    node = g.node("s2_1_unit_0_conv")
    assert node.path == ("blocks", "conv_bn", "layers", 0)
    text = " | ".join(node.expansion)
    assert "copy 1 of 2 of 's2'" in text and "in block 'stage'" in text
    assert "in block 'conv_bn'" in text


def test_if_false_passes_input_and_keeps_id():
    g = flat("""
        modelspec: 1
        params: {use_bn: false}
        model:
          inputs: {x: {shape: [4]}}
          layers:
            - {id: h, type: Dense, units: 4}
            - {id: bn, type: BatchNormalization, if: $use_bn}
            - {id: skip, type: Dense, units: 2, in: x, if: "$(not use_bn)"}
            - {id: sum, type: Concatenate, in: [bn, skip]}
    """)
    assert summary(g) == [("h", "Dense", ["<input:x>"]), ("skip", "Dense", ["<input:x>"]),
                          ("sum", "Concatenate", ["h", "skip"])]


def test_ports_shares_models_and_call_refs():
    g = flat("""
        modelspec: 1
        model:
          inputs: {src: {shape: [5, 3]}, tgt: {shape: [4, 3]}}
          layers:
            - {id: enc, type: LSTM, units: 4, return_state: true, in: src}
            - {id: dec, type: LSTM, units: 4, in: tgt, call: {initial_state: [enc.h, enc.c]}}
            - {id: dec2, shares: dec, in: tgt}
            - {id: both, type: Add, in: [dec, dec2]}
    """)
    enc, dec, dec2 = g.node("enc"), g.node("dec"), g.node("dec2")
    assert enc.ports == ["out", "h", "c"]
    assert dec.call == {"initial_state": [Ref("enc", "h"), Ref("enc", "c")]}
    assert dec2.kind == "shares" and dec2.target == "dec"


def test_model_layers_and_model_order():
    spec = load_and_check(textwrap.dedent("""
        modelspec: 1
        models:
          gan:
            inputs: {z: {shape: [2]}}
            layers:
              - {id: g, model: generator}
              - {id: d, model: discriminator, trainable: false}
          generator:
            inputs: {z: {shape: [2]}}
            layers: [{type: Dense, units: 4}]
          discriminator:
            inputs: {x: {shape: [4]}}
            layers: [{type: Dense, units: 1}]
    """))
    assert spec.model_names == ["gan", "generator", "discriminator"]
    gan = spec.graphs["gan"]
    assert [(n.kind, n.target, n.trainable) for n in gan.nodes] == [
        ("model", "generator", None), ("model", "discriminator", False)]


def test_duplicate_ids_in_different_blocks_are_fine_and_names_stay_unique():
    g = flat("""
        modelspec: 1
        blocks:
          a: {layers: [{id: fc, type: Dense, units: 2}]}
          b: {layers: [{id: fc, type: Dense, units: 2}]}
        model:
          inputs: {x: {shape: [4]}}
          layers:
            - {block: a}
            - {block: b}
            - {block: a}
            - {type: Dense, units: 1}
            - {type: Dense, units: 1}
    """)
    names = [n.name for n in g.nodes]
    assert len(set(names)) == len(names) == 5
    assert names == ["a_fc", "b_fc", "a_2_fc", "dense", "dense_2"]


def test_recursive_block_is_reported_not_a_crash():
    with pytest.raises(SpecError, match="nested more than 16 deep"):
        flat("""
            modelspec: 1
            blocks:
              loop: {layers: [{block: loop}]}
            model:
              inputs: {x: {shape: [4]}}
              layers:
                - {block: loop}
        """)


def test_resolved_layer_arguments_are_checked_after_substitution():
    with pytest.raises(SpecError) as info:
        flat("""
            modelspec: 1
            params: {width: 0, act: relu7}
            model:
              inputs: {x: {shape: [4]}}
              layers:
                - {type: Dense, units: $width, activation: $act}
        """)
    text = str(info.value)
    assert "<string>:6:28: model.layers[0].units: 0 is out of range — expected at least 1" in text
    assert "model.layers[0].activation: unknown activation 'relu7'" in text


def test_block_argument_errors_point_at_the_invocation_value():
    with pytest.raises(SpecError) as info:
        flat("""
            modelspec: 1
            blocks:
              fc:
                params: {width: required}
                layers: [{type: Dense, units: $width}]
            model:
              inputs: {x: {shape: [4]}}
              layers:
                - {block: fc, width: 2.5}
        """)
    assert str(info.value).startswith("<string>:9:26: model.layers[0].width: 2.5 is a float")


def test_graph_and_checks_do_not_import_tensorflow():
    code = textwrap.dedent("""
        import sys
        from modelspec.lang.checks import load_and_check
        load_and_check("specs/resnet34.yaml")
        print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
    """)
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def _nested_blocks(levels: int, repeat: int) -> str:
    blocks = "".join(f"  b{i}:\n    layers:\n      - {{block: b{i + 1}, repeat: {repeat}}}\n"
                     for i in range(levels - 1))
    return (f"modelspec: 1\nblocks:\n{blocks}  b{levels - 1}:\n    layers:\n"
            f"      - {{type: Dense, units: 2, repeat: {repeat}}}\n"
            "model:\n  inputs: {x: {shape: [4]}}\n  layers:\n    - {block: b0}\n")


@pytest.mark.parametrize("text, line, message", [
    (_nested_blocks(8, 10), 30, "the model expands to more than 10,000 layers"),
    ("modelspec: 1\nparams: {n: 100000000}\nmodel:\n  inputs: {x: {shape: [4]}}\n  layers:\n"
     "    - {type: Dense, units: 2, repeat: $n}\n", 6, "'repeat' is 100000000, more than 1000"),
    ("modelspec: 1\nmodel:\n  inputs: {x: {shape: [4]}}\n  layers:\n"
     "    - {type: Dense, units: 2, repeat: 100000000}\n", 5, "out of range"),
    ("modelspec: 1\nmodel:\n  inputs: {x: {shape: [4]}}\n  layers:\n"
     + "    - {type: Dense, units: 2, repeat: 1000}\n" * 11, 15, "more than 10,000 layers"),
])
def test_expansion_is_bounded_before_the_work(text, line, message):
    """Finding 1 of issue 15: 10^8 layers within both limits hung `validate`."""
    import time
    start = time.perf_counter()
    with pytest.raises(SpecError) as err:
        load_and_check(text)
    assert time.perf_counter() - start < 1.5
    [problem] = err.value.problems
    assert (problem.line, message in problem.message) == (line, True), problem


def test_many_unnamed_layers_get_names_in_linear_time():
    import time
    text = ("modelspec: 1\nmodel:\n  inputs: {x: {shape: [4]}}\n  layers:\n"
            + "    - {type: Dense, units: 2, repeat: 1000}\n" * 9)
    start = time.perf_counter()
    names = [n.name for n in load_and_check(text).graphs["model"].nodes]
    assert time.perf_counter() - start < 1.5
    assert len(set(names)) == 9000 and names[:2] == ["dense", "dense_2"]
