"""Techniques on a trained image classifier: FGSM, class synthesis, DeepDream, style transfer.

One tiny CNN is trained on sklearn digits (8×8, in [0, 1]) for a few epochs, once per module.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from digits_data import digits_data

SPEC = """\
modelspec: 1
name: tiny_cnn_digits
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - {id: c1, type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu}
    - {id: c2, type: Conv2D, filters: 16, kernel_size: 3, padding: same, activation: relu}
    - {id: pool, type: MaxPooling2D, pool_size: 2}
    - {type: Flatten}
    - {id: out, type: Dense, units: 10, activation: softmax}
  outputs: {digit: out}
""" + digits_data('{train: "all[:70%]", validation: "all[70%:85%]", test: "all[85%:]"}') + """\
train:
  epochs: 2
  seed: 1
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  callbacks: {tensorboard: false}
"""

MLP = """\
modelspec: 1
name: tabular
model:
  inputs: {x: {shape: [4]}}
  layers:
    - {id: h, type: Dense, units: 8, activation: relu}
    - {id: out, type: Dense, units: 3}
  outputs: {y: out}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from modelspec.training.run import train_spec
    root = tmp_path_factory.mktemp("techniques")
    spec = root / "spec.yaml"
    spec.write_text(SPEC)
    result = train_spec(spec, output=root / "run", verbose=0)
    assert result.metrics["test_accuracy"] > 0.8, result.metrics
    return root / "run"


@pytest.fixture(scope="module")
def classifier(run_dir):
    from modelspec.techniques.target import load_classifier
    clf = load_classifier(run_dir)
    assert (clf.image, clf.output, clf.image_shape, clf.num_classes) == \
        ("image", "digit", (8, 8, 1), 10)
    assert clf.ensure_range() == (0.0, 1.0)  # digits 0..16 rescaled by 1/16
    return clf


def _invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args])


def test_fgsm_accuracy_drops_as_epsilon_grows(classifier):
    from modelspec.techniques.fgsm import attack, fgsm
    report = attack(classifier, [0.0, 0.05, 0.1, 0.3], split="test")
    assert report.examples == 270 and report.clean_accuracy > 0.8
    accuracies = [report.adversarial[e] for e in (0.0, 0.05, 0.1, 0.3)]
    assert accuracies[0] == pytest.approx(report.clean_accuracy)
    assert all(b <= a + 0.02 for a, b in zip(accuracies, accuracies[1:])), accuracies
    assert report.drop(0.3) > 0.4, report.as_dict()
    # one batch by hand: the perturbation is exactly ±ε inside the range, clipped at its ends
    x = next(iter(classifier.datasets().test))[0]["image"].numpy()[:16]
    y = next(iter(classifier.datasets().test))[1]["digit"].numpy()[:16]
    adversarial = fgsm(classifier, x, y, 0.1, (0.0, 1.0))
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    moved = np.abs(adversarial - x)
    inside = (x > 0.1) & (x < 0.9)
    assert np.allclose(moved[inside & (moved > 0)], 0.1, atol=1e-6)


def test_targeted_fgsm_moves_examples_to_the_target_class(classifier):
    from modelspec.techniques.fgsm import attack
    report = attack(classifier, [0.0, 0.1, 0.3], split="test", target=3)
    assert report.target == 3 and 0 < report.candidates < report.examples
    assert report.hits[0.0] < 0.05                      # clean: few non-3s called 3
    assert report.hits[0.3] > report.hits[0.1] > report.hits[0.0] + 0.1, report.hits
    assert report.as_dict()["results"][2]["target_success"] == report.hits[0.3]
    untargeted = attack(classifier, [0.3], split="test")
    # a targeted step is a different direction from the untargeted one
    assert report.adversarial[0.3] != untargeted.adversarial[0.3]


def test_zeiler_fergus_top_activations_and_projections(classifier):
    from modelspec.techniques.target import feature_model
    from modelspec.techniques.zeiler_fergus import visualize_layer
    views, seen = visualize_layer(classifier, "c1", units=[0, 3], top=4, limit=200)
    assert seen == 200 and [v.unit for v in views] == [0, 3]
    # the values are the units' largest per-image maxima over the 200 examples, in order
    images = np.concatenate([b[0]["image"].numpy() for b in classifier.datasets().test])[:200]
    maps = feature_model(classifier, ["c1"])(images)[0].numpy()
    for view in views:
        best = np.sort(maps[..., view.unit].reshape(200, -1).max(1))[::-1][:4]
        assert np.allclose(view.values, best, rtol=1e-5)
        for projection, (y, x), box in zip(view.projections, view.positions, view.boxes,
                                           strict=True):
            # c1 is a 3×3 'same' convolution: the projection lives in the 3×3 window at (y, x)
            top, left, bottom, right = box
            assert max(0, y - 1) <= top and bottom <= y + 2 and max(0, x - 1) <= left
            assert right <= x + 2 and np.abs(projection).max() > 0
    # through c2 and its ReLUs, the deconvnet's rectified backward signal differs from
    # the plain gradient
    deep, _ = visualize_layer(classifier, "c2", units=[1], top=2, limit=100)
    assert deep[0].projections[0].shape == (8, 8, 1)


def test_class_synthesis_increases_the_class_score(classifier):
    from modelspec.techniques.synthesis import synthesize_class
    image, info = synthesize_class(classifier, 3, steps=40, step_size=0.02)
    assert image.shape == (8, 8, 1) and 0.0 <= image.min() and image.max() <= 1.0
    assert info["score_after"] > info["score_before"] + 1.0, info
    assert info["probability_after"] > max(0.5, info["probability_before"]), info
    # the softmax is bypassed only while optimising (logits), then restored
    assert np.allclose(np.asarray(classifier.scores(image[None])).sum(), 1.0, atol=1e-4)


def test_deep_dream_increases_layer_activation(classifier):
    from modelspec.techniques.synthesis import deep_dream
    from modelspec.techniques.target import feature_model
    start = next(iter(classifier.datasets().test))[0]["image"].numpy()[0]
    features = feature_model(classifier, ["c2"])
    dreamed, info = deep_dream(classifier, features, start, steps=10, octaves=2)
    assert dreamed.shape == start.shape and not np.allclose(dreamed, start)
    assert info["norm_after"] > info["norm_before"] * 1.1, info


def test_style_loss_decreases(classifier):
    from modelspec.techniques.style import gram_matrix, style_transfer
    from modelspec.techniques.target import feature_model
    batch = next(iter(classifier.datasets().test))[0]["image"].numpy()
    features = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)
    flat = features.reshape(6, 4)
    assert np.allclose(gram_matrix(features)[0], flat.T @ flat / 6)
    _, history = style_transfer(classifier, feature_model(classifier, ["c2"]),
                                feature_model(classifier, ["c1", "c2"]), batch[0], batch[1],
                                steps=30, learning_rate=0.05)
    assert history["style_loss"][-1] < 0.5 * history["style_loss"][0], history["style_loss"]
    assert all(np.isfinite(history["loss"]))


def test_attack_cli_report_json_and_grid(run_dir, tmp_path):
    from modelspec.techniques.cli import attack_command
    grid = tmp_path / "grid.png"
    result = _invoke(attack_command, run_dir, "-e", "0.05,0.2", "--limit", 100, "--out", grid)
    assert result.exit_code == 0, result.output
    assert "test split, 100 examples, inputs clipped to [0, 1]" in result.output
    assert "clean accuracy" in result.output and "0.2" in result.output
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = _invoke(attack_command, run_dir, "-e", 0.1, "--split", "validation", "--json")
    report = json.loads(result.output)
    assert report["split"] == "validation" and report["examples"] == 269
    first = report["results"][0]
    assert first["epsilon"] == 0.1
    assert first["drop"] == pytest.approx(report["clean_accuracy"]
                                          - first["adversarial_accuracy"])


def test_attack_cli_target_by_index_and_bad_target(run_dir):
    from modelspec.techniques.cli import attack_command
    result = _invoke(attack_command, run_dir, "-e", "0.3", "--target", 3, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["target"] == 3 and report["results"][0]["target_success"] > 0.1
    result = _invoke(attack_command, run_dir, "-e", "0.3", "--target", 3)
    assert "target success" in result.output and "targeted at class 3" in result.output
    result = _invoke(attack_command, run_dir, "--target", "twelve")
    assert result.exit_code == 2
    assert "--target 'twelve': expected a class index from 0 to 9" in result.output


def test_visualize_cli_writes_the_grid(run_dir, tmp_path):
    from modelspec.techniques.cli import visualize_command
    out = tmp_path / "c2.png"
    result = _invoke(visualize_command, run_dir, "--layer", "c2", "--units", "0,1,2",
                     "--top", 3, "--limit", 100, "--out", out)
    assert result.exit_code == 0, result.output
    assert "layer c2: 3 units, strongest activations over 100 test examples" in result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = _invoke(visualize_command, run_dir, "--layer", "c2", "--units", "99",
                     "--out", out)
    assert result.exit_code == 2 and "layer 'c2' has 16 units" in result.output


def test_dream_and_style_cli_write_images(run_dir, tmp_path):
    from modelspec.techniques.cli import dream_command, style_command
    from modelspec.techniques.images import read_image
    out = tmp_path / "three.png"
    result = _invoke(dream_command, run_dir, "--class", 3, "--out", out, "--steps", 20)
    assert result.exit_code == 0, result.output
    assert "class 3: score" in result.output and read_image(out, (8, 8, 1), (0, 1)).shape == \
        (8, 8, 1)
    dreamed = tmp_path / "dream.png"
    result = _invoke(dream_command, run_dir, "--layer", "c2", "--image", out, "--out", dreamed,
                     "--steps", 5, "--octaves", 2)
    assert result.exit_code == 0, result.output
    assert "layers c2: RMS activation" in result.output and dreamed.exists()
    styled = tmp_path / "styled.jpg"
    result = _invoke(style_command, run_dir, "--content", out, "--style", dreamed,
                     "--content-layer", "c2", "--style-layers", "c1,c2", "--out", styled,
                     "--steps", 5)
    assert result.exit_code == 0, result.output
    assert "style loss" in result.output and styled.read_bytes()[:2] == b"\xff\xd8"
    # a spec with --weights: the run's weights file loaded into a freshly built model
    spec, weights = run_dir.parent / "spec.yaml", run_dir / "final" / "model.weights.h5"
    result = _invoke(dream_command, spec, "--weights", weights, "--class", 1, "--steps", 3,
                     "--out", tmp_path / "one.png")
    assert result.exit_code == 0 and "random (untrained)" not in result.output, result.output
    result = _invoke(dream_command, spec, "--weights", out, "--class", 1, "--out", out)
    assert result.exit_code == 2 and f"--weights {out}: cannot load into the model" \
        in result.output


def test_cli_errors_exit_2_without_traceback(run_dir, tmp_path):
    from modelspec.techniques.cli import attack_command, dream_command, style_command
    out = tmp_path / "x.png"
    result = _invoke(dream_command, run_dir, "--layer", "c22", "--out", out)
    assert result.exit_code == 2
    assert "--layer 'c22': no layer with that id in" in result.output
    assert "expected one of c1, c2, pool, flatten, out (did you mean 'c2'?)" in result.output
    assert "Traceback" not in result.output
    result = _invoke(dream_command, run_dir, "--class", 12, "--out", out)
    assert result.exit_code == 2 and "--class 12: the model has 10 classes" in result.output
    result = _invoke(dream_command, run_dir, "--out", out)
    assert result.exit_code == 2 and "either --class N" in result.output
    result = _invoke(attack_command, run_dir, "-e", "-0.1")
    assert result.exit_code == 2 and "expected a non-negative number" in result.output
    result = _invoke(attack_command, run_dir, "-e", "abc")
    assert result.exit_code == 2 and "--epsilon 'abc': expected a number" in result.output
    result = _invoke(dream_command, run_dir, "--class", 1, "--out", tmp_path / "x.gif")
    assert result.exit_code == 2 and "expected a .png or .jpg" in result.output
    result = _invoke(style_command, run_dir, "--content", tmp_path / "none.png", "--style",
                     tmp_path / "none.png", "--out", out, "--content-layer", "c2")
    assert result.exit_code == 2 and "--content" in result.output and "no such file" \
        in result.output
    mlp = tmp_path / "mlp.yaml"
    mlp.write_text(MLP)
    result = _invoke(attack_command, mlp)
    assert result.exit_code == 2
    assert "not an image classifier: its input(s) 'x' (4,)" in result.output
    assert "expected one float input of shape (height, width, 1 or 3 channels)" in result.output
    result = _invoke(attack_command, tmp_path)
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_layer_ids_of_blocks_and_repeats(repo_root):
    from modelspec.techniques.target import default_style_layers, load_classifier, resolve_layer
    clf = load_classifier(repo_root / "specs" / "vgg16.yaml", params={"small": True})
    assert clf.trained is False and clf.image_shape == (32, 32, 3)
    assert resolve_layer(clf, "stage4.conv") == "stage4_conv_2"    # last copy
    assert resolve_layer(clf, "stage1_conv_0") == "stage1_conv_0"
    assert resolve_layer(clf, "stage2") == "stage2_pool"           # a block's output
    content, style = default_style_layers(clf)
    assert content == ["stage4_conv_2"] and style[0] == "stage1_conv_0" and len(style) == 5
