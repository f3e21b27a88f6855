"""`modelspec attack`, `modelspec dream` and `modelspec style`: techniques on trained networks.

Each takes a run directory written by `modelspec train` (its trained weights) or a spec file
(a freshly built model: random weights unless `--weights FILE`). Wired into `modelspec.cli.main`
lazily: `attack_command`, `dream_command`, `style_command`, `visualize_command`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from modelspec.cli.util import data_dir_option, handle_errors
from modelspec.errors import SpecError, UsageError
from modelspec.tfenv import quiet_tensorflow

if TYPE_CHECKING:
    import numpy as np

    from modelspec.techniques.target import Classifier, Range

F = TypeVar("F", bound=Callable[..., Any])


def _common(func: F) -> F:
    """Options shared by the three commands."""
    options = [
        click.option("--range", "value_range", type=float, nargs=2, metavar="LOW HIGH",
                     help="Input pixel range (default: measured on the spec's data, snapped "
                          "to [0,1], [-1,1] or [0,255]; [0,1] without data)."),
        click.option("--weights", "weights_file", type=click.Path(dir_okay=False),
                     help="Load a local Keras weights file (.weights.h5) of this spec's "
                          "model, e.g. ImageNet-trained VGG weights you have locally."),
        click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
                     help="Override a spec parameter (specs only), e.g. -p small=true."),
        click.option("--model-output", "output_name", metavar="NAME",
                     help="The class-score output, when the model has several."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load(target: str, params: tuple[str, ...], weights_file: str | None,
          output_name: str | None, need_output: bool = True) -> Classifier:
    quiet_tensorflow()
    from modelspec.cli.params import parse_param_overrides
    from modelspec.techniques.target import load_classifier
    classifier = load_classifier(target, params=parse_param_overrides(params) or None,
                                 weights=weights_file, output=output_name,
                                 need_output=need_output)
    if not classifier.trained:
        click.echo(f"note: {target} is a spec: its weights are random (untrained); train it "
                   "with `modelspec train` and pass the run directory, or give --weights FILE",
                   err=True)
    return classifier


def _range(classifier: Classifier, given: Sequence[float] | None) -> Range:
    """The input range; falls back to [0, 1] (with a note) when the data cannot be read."""
    try:
        return classifier.ensure_range(given)
    except (SpecError, UsageError) as err:
        if given:
            raise
        first = str(err).splitlines()[0]
        click.echo(f"note: input range not measured ({first}); using [0, 1] — set it with "
                   "--range LOW HIGH", err=True)
        classifier.value_range = (0.0, 1.0)
        return classifier.value_range


def _class_index(value: str | None, names: Sequence[object] | None,
                 num_classes: int) -> int | None:
    """--target as a class index: an integer, or one of the data's class names."""
    if value is None:
        return None
    if names and str(value) in [str(n) for n in names]:
        return [str(n) for n in names].index(str(value))
    try:
        index = int(value)
    except ValueError:
        known = f"; class names: {', '.join(map(str, names))}" if names else ""
        raise UsageError(f"--target '{value}': expected a class index from 0 to "
                         f"{num_classes - 1}{known}") from None
    if not 0 <= index < num_classes:
        raise UsageError(f"--target {index}: expected a class index from 0 to "
                         f"{num_classes - 1}")
    return index


def _epsilons(values: Sequence[str]) -> list[float]:
    out = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.append(float(part))
            except ValueError:
                raise UsageError(f"--epsilon '{part}': expected a number such as 0.1") from None
    return out or [0.1]


@click.command("attack")
@click.argument("target", type=click.Path(exists=True))
@click.option("--epsilon", "-e", "epsilons", multiple=True, metavar="EPS",
              help="Step size ε in input units (repeatable or comma-separated; default 0.1).")
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test",
              show_default=True, help="Which split of the spec's data to attack.")
@click.option("--limit", type=click.IntRange(min=1), help="Attack at most N examples.")
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="Write a grid image (.png/.jpg): examples × (clean, sign(∇ₓJ), each ε).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--target", "target_class", metavar="CLASS",
              help="Targeted attack: push every example towards this class (an index or a "
                   "class name), x − ε·sign(∇ₓJ(x, CLASS)); reports the success rate.")
@_common
@data_dir_option
@handle_errors
def attack_command(target: str, epsilons: tuple[str, ...], split: str, limit: int | None,
                   out: str | None, as_json: bool, target_class: str | None,
                   value_range: tuple[float, float] | None, weights_file: str | None,
                   params: tuple[str, ...], output_name: str | None) -> None:
    """Adversarial examples by the fast gradient sign method (Goodfellow et al. 2015).

    \b
    Each example x of the split becomes x' = clip(x + ε·sign(∇ₓJ(x, y)), low, high), J the
    classifier's cross-entropy; reports clean accuracy, adversarial accuracy and the drop
    for every ε. ε is in input units: 0.1 is a tenth of the range for images in [0, 1].
    With --target CLASS the step goes down the gradient of J(x, CLASS) instead, and the
    report adds the share of examples (not already of that class) now classified as CLASS.

    \b
    Examples:
      modelspec attack runs/lenet5 --epsilon 0.1
      modelspec attack runs/lenet5 -e 0.05,0.1,0.2 --limit 1000 --out fgsm.png
      modelspec attack runs/vgg16 -e 0.01 --split validation --json
      modelspec attack runs/lenet5 -e 0.1,0.2 --target 3      # make every digit a 3
    """
    from modelspec.techniques.fgsm import attack, attack_figure
    from modelspec.techniques.images import check_output_path, write_figure
    if out:
        check_output_path(out)
    classifier = _load(target, params, weights_file, output_name)
    names = classifier.datasets().meta.get("class_names")
    report = attack(classifier, _epsilons(epsilons), split=split, limit=limit,
                    value_range=value_range or None,
                    target=_class_index(target_class, names, classifier.num_classes))
    if out:
        write_figure(out, attack_figure(report, names))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    low, high = report.value_range
    click.echo(f"FGSM on {target}: {report.split} split, {report.examples} examples, "
               f"inputs clipped to [{low:g}, {high:g}]")
    click.echo(f"clean accuracy  {report.clean_accuracy:.4f}")
    aimed = report.target is not None
    if aimed:
        click.echo(f"targeted at class {target_class}: success = share of the "
                   f"{report.candidates} examples of other classes now classified as it")
    click.echo(f"{'epsilon':>8}  {'adversarial accuracy':>20}  {'drop':>7}"
               + (f"  {'target success':>14}" if aimed else ""))
    for e, accuracy in report.adversarial.items():
        click.echo(f"{e:>8g}  {accuracy:>20.4f}  {report.drop(e):>7.4f}"
                   + (f"  {report.hits[e]:>14.4f}" if aimed else ""))
    if out:
        click.echo(f"wrote {out}: rows are the first {len(report.shown['clean'])} examples; "
                   "columns clean, sign(∇ₓJ), then one per ε (predicted class and probability)")


@click.command("dream")
@click.argument("target", type=click.Path(exists=True))
@click.option("--class", "class_index", type=int,
              help="Synthesise an input for this class index (turn the network upside down).")
@click.option("--layer", "layers", multiple=True, metavar="ID",
              help="DeepDream: amplify the activations of this layer id (repeatable).")
@click.option("--image", type=click.Path(dir_okay=False),
              help="Start from this image (resized to the model's input); default: the mean "
                   "training image for --class (grey without data), grey + noise for --layer.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The image to write (.png or .jpg).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Gradient ascent steps (per octave) [default: 200 for --class, 20 for --layer].")
@click.option("--step-size", type=click.FloatRange(min=0, min_open=True), default=0.01,
              show_default=True, help="Step length as a fraction of the input range.")
@click.option("--octaves", type=click.IntRange(min=1), default=1, show_default=True,
              help="DeepDream scales, coarse to fine.")
@click.option("--octave-scale", type=float, default=1.4, show_default=True,
              help="Size ratio between octaves.")
@click.option("--tv", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Class synthesis: total-variation weight (neighbouring pixels correlate).")
@click.option("--l2", type=click.FloatRange(min=0), default=0.001, show_default=True,
              help="Class synthesis: L2 weight.")
@click.option("--jitter", type=click.IntRange(min=0), default=1, show_default=True,
              help="Class synthesis: random shift in pixels before each step.")
@click.option("--seed", type=int, default=0, show_default=True)
@_common
@data_dir_option
@handle_errors
def dream_command(target: str, class_index: int | None, layers: tuple[str, ...],
                  image: str | None, out: str, steps: int | None, step_size: float,
                  octaves: int, octave_scale: float, tv: float, l2: float, jitter: int,
                  seed: int, value_range: tuple[float, float] | None,
                  weights_file: str | None, params: tuple[str, ...],
                  output_name: str | None) -> None:
    """Synthesise an input for a class, or DeepDream on a layer.

    \b
    --class N: gradient ascent on the input to maximise class N's score (its logit: a
    final softmax is bypassed while optimising) with L2 and total-variation priors and jitter.
    --layer ID: DeepDream — gradient ascent on the mean squared activation of the layer(s),
    from --image (or noise), optionally over --octaves. Layer ids are the spec's: `c3`,
    a block's layer `stage4.conv`, a copy `stage4_conv_2`.

    \b
    Examples:
      modelspec dream runs/lenet5 --class 3 --out three.png
      modelspec dream runs/lenet5 --layer c3 --image digit.png --out dream.png --octaves 3
      modelspec dream runs/vgg16 --layer stage3.conv --layer stage4.conv --image cat.jpg --out d.png
    """
    from modelspec.techniques.images import check_output_path, read_image
    if (class_index is None) == (not layers):
        raise UsageError("dream: give either --class N (class synthesis) or --layer ID "
                         "(DeepDream), not both and not neither")
    check_output_path(out)
    classifier = _load(target, params, weights_file, output_name,
                       need_output=class_index is not None)
    low, high = _range(classifier, value_range or None)
    start = read_image(image, classifier.image_shape, (low, high)) if image else None
    if class_index is not None:
        _class_synthesis(classifier, class_index, start, out, (low, high), steps=steps or 200,
                         step_size=step_size, l2=l2, tv=tv, jitter=jitter, seed=seed)
    else:
        _deep_dream(classifier, layers, start, out, (low, high), seed, steps=steps or 20,
                    step_size=step_size, octaves=octaves, octave_scale=octave_scale)


def _class_synthesis(classifier: Classifier, class_index: int, start: np.ndarray | None,
                     out: str, value_range: Range, **options: Any) -> None:
    """`dream --class N`: synthesises an input for the class and writes it, captioned."""
    from modelspec.techniques.images import write_labelled_image
    from modelspec.techniques.synthesis import synthesize_class
    if start is None and classifier.spec.section("data") is not None:
        from modelspec.techniques.target import mean_image
        try:
            start = mean_image(classifier)
        except (SpecError, UsageError):
            start = None
    result, info = synthesize_class(classifier, class_index, start=start,
                                    value_range=value_range, **options)
    write_labelled_image(out, result, value_range,
                         f"class {class_index}: probability "
                         f"{info['probability_before']:.2f} -> "
                         f"{info['probability_after']:.2f}")
    click.echo(f"class {class_index}: score {info['score_before']:.3f} → "
               f"{info['score_after']:.3f}, probability {info['probability_before']:.3f} → "
               f"{info['probability_after']:.3f}; wrote {out}")


def _deep_dream(classifier: Classifier, layers: Sequence[str], start: np.ndarray | None,
                out: str, value_range: Range, seed: int, **options: Any) -> None:
    """`dream --layer ID`: DeepDream on the layers from `start` (else grey + noise)."""
    import numpy as np

    from modelspec.techniques.images import write_image
    from modelspec.techniques.synthesis import deep_dream
    from modelspec.techniques.target import feature_model
    low, high = value_range
    features = feature_model(classifier, list(layers))
    if start is None:
        rng = np.random.default_rng(seed)
        start = np.clip((low + high) / 2 + 0.1 * (high - low)
                        * rng.standard_normal(classifier.image_shape), low, high)
    result, info = deep_dream(classifier, features, start, value_range=value_range, **options)
    write_image(out, result, value_range)
    click.echo(f"layers {', '.join(features.names)}: RMS activation {info['norm_before']:.4f} → "
               f"{info['norm_after']:.4f}; wrote {out}")


def _ids(values: Sequence[str]) -> list[str]:
    return [p.strip() for v in values for p in str(v).split(",") if p.strip()]


@click.command("style")
@click.argument("target", type=click.Path(exists=True))
@click.option("--content", required=True, type=click.Path(dir_okay=False),
              help="The content image.")
@click.option("--style", "style_image", required=True, type=click.Path(dir_okay=False),
              help="The style image.")
@click.option("--content-layer", "content_layers", multiple=True, metavar="ID",
              help="Content layer id(s) (default: the convolution at ~3/4 depth).")
@click.option("--style-layers", "style_layers", multiple=True, metavar="ID[,ID...]",
              help="Style layer ids, comma-separated or repeated (default: 5 convolutions "
                   "spread over the depth).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The image to write (.png or .jpg).")
@click.option("--steps", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--content-weight", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--style-weight", type=click.FloatRange(min=0), default=10.0, show_default=True)
@click.option("--tv-weight", type=click.FloatRange(min=0), default=0.01, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.02,
              show_default=True, help="Adam's step as a fraction of the input range.")
@click.option("--init", type=click.Choice(["content", "noise"]), default="content",
              show_default=True, help="Start from the content image or from white noise.")
@click.option("--seed", type=int, default=0, show_default=True)
@_common
@data_dir_option
@handle_errors
def style_command(target: str, content: str, style_image: str, content_layers: tuple[str, ...],
                  style_layers: tuple[str, ...], out: str, steps: int, content_weight: float,
                  style_weight: float, tv_weight: float, learning_rate: float, init: str,
                  seed: int, value_range: tuple[float, float] | None,
                  weights_file: str | None, params: tuple[str, ...],
                  output_name: str | None) -> None:
    """Neural style transfer (Gatys et al. 2015) on a convolutional spec's layers.

    \b
    Optimises an image whose features at the content layer(s) match the content image and
    whose Gram matrices at the style layers match the style image. Gatys et al. used an
    ImageNet-trained VGG; there are no ImageNet weights offline, so with random or locally
    trained weights results are only illustrative — load your own weights of the same
    architecture with --weights FILE.

    \b
    Examples:
      modelspec style specs/vgg16.yaml -p small=true --content a.png --style b.png \\
          --content-layer stage4.conv --style-layers stage1.conv,stage2.conv,stage3.conv \\
          --out c.png --steps 300
      modelspec style runs/vgg16 --content a.png --style b.png --out c.png
      modelspec style specs/vgg16.yaml --weights vgg16.weights.h5 --content a.jpg \\
          --style b.jpg --out c.jpg
    """
    from modelspec.techniques.images import check_output_path, read_image, write_image
    from modelspec.techniques.style import style_transfer
    from modelspec.techniques.target import default_style_layers, feature_model
    check_output_path(out)
    classifier = _load(target, params, weights_file, output_name, need_output=False)
    content_ids, style_ids = _ids(content_layers), _ids(style_layers)
    if not content_ids or not style_ids:
        default_content, default_style = default_style_layers(classifier)
        content_ids = content_ids or default_content
        style_ids = style_ids or default_style
    content_features = feature_model(classifier, content_ids, "--content-layer")
    style_features = feature_model(classifier, style_ids, "--style-layers")
    low, high = _range(classifier, value_range or None)
    shape = classifier.image_shape
    content_img = read_image(content, shape, (low, high), "--content")
    style_img = read_image(style_image, shape, (low, high), "--style")
    result, history = style_transfer(
        classifier, content_features, style_features, content_img, style_img, steps=steps,
        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
        learning_rate=learning_rate, init=init, value_range=(low, high), seed=seed)
    write_image(out, result, (low, high))
    click.echo(f"content layers {', '.join(content_features.names)}; style layers "
               f"{', '.join(style_features.names)}")
    click.echo(f"{steps} steps: content loss {history['content_loss'][0]:.4f} → "
               f"{history['content_loss'][-1]:.4f}, style loss {history['style_loss'][0]:.4f} → "
               f"{history['style_loss'][-1]:.4f}; wrote {out}")


def _units(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--units '{text}': expected channel indices such as 0,1,2") from None


@click.command("visualize")
@click.argument("target", type=click.Path(exists=True))
@click.option("--layer", required=True, metavar="ID", help="A convolutional layer (spec id).")
@click.option("--units", metavar="I,J,...", help="Channels to show (default: the first 8).")
@click.option("--top", type=click.IntRange(min=1, max=16), default=6, show_default=True,
              help="Strongest activations shown per unit (one per example).")
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test",
              show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Examples scanned for the strongest activations.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The grid image (.png/.jpg): one row per unit.")
@click.option("--json", "as_json", is_flag=True, help="Also print the activations as JSON.")
@_common
@handle_errors
def visualize_command(target: str, layer: str, units: str | None, top: int, split: str,
                      limit: int, out: str, as_json: bool,
                      value_range: tuple[float, float] | None, weights_file: str | None,
                      params: tuple[str, ...], output_name: str | None) -> None:
    """What units of a layer respond to (Zeiler & Fergus, ECCV 2014).

    \b
    For each unit (channel) of --layer: the examples of the split where it fires most, the
    input patch it saw there, and that activation projected back to pixel space by a
    deconvnet (transposed convolutions, max-unpooling switches, rectified backward signal).

    \b
    Examples:
      modelspec visualize runs/lenet5 --layer c1 --out c1.png
      modelspec visualize runs/alexnet --layer conv2 --units 0,5,9 --top 9 --out conv2.png
    """
    from modelspec.techniques.images import check_output_path, write_figure
    from modelspec.techniques.zeiler_fergus import views_figure, visualize_layer
    check_output_path(out)
    classifier = _load(target, params, weights_file, output_name, need_output=False)
    views, seen = visualize_layer(classifier, layer, _units(units), top, split, limit)
    write_figure(out, views_figure(views, _range(classifier, value_range), layer))
    if as_json:
        click.echo(json.dumps({"layer": layer, "examples": seen, "units": [
            {"unit": v.unit, "activations": v.values, "positions": v.positions,
             "patches": v.boxes} for v in views]}, indent=2))
        return
    click.echo(f"layer {layer}: {len(views)} units, strongest activations over {seen} "
               f"{split} examples")
    for view in views:
        click.echo(f"  unit {view.unit}: " + ", ".join(f"{v:.3g}" for v in view.values))
    click.echo(f"wrote {out}: one row per unit; input patches left, deconvnet projections "
               "right")
