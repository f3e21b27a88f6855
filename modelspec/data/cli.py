"""`modelspec data SPEC`: what a spec's data pipeline yields, without training anything.

Prints the source, the number of examples per split, every model input and output with the
field feeding it (shape, dtype), the recorded serving-time preprocessing and a few examples;
`--out grid.png` writes an image grid of an image input (with labels when the target is a
class index).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from modelspec.cli.util import data_dir_option, handle_errors
from modelspec.errors import UsageError
from modelspec.tfenv import quiet_tensorflow

if TYPE_CHECKING:  # the pipeline imports TensorFlow, which the command imports quietly first
    from modelspec.data.pipeline import DataBundle
    from modelspec.lang.spec import CheckedSpec


def _bundle(spec: CheckedSpec) -> DataBundle:
    from modelspec.build.compiler import build_models
    from modelspec.data.pipeline import spec_datasets
    from modelspec.training.config import TrainConfig  # which model the training loop feeds
    feed = TrainConfig.from_section(spec.section("train") or {}).data_feed()
    return spec_datasets(spec, feed)(build_models(spec))


def _short(value: Any, limit: int = 8) -> str:
    arr = np.asarray(value)
    if arr.dtype.kind in "SO":
        arr = np.vectorize(lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes)
                           else str(b))(arr) if arr.size else arr
    flat = arr.reshape(-1)
    body = ", ".join(f"{v:.4g}" if arr.dtype.kind == "f" else repr(v) if arr.dtype.kind in "SOU"
                     else str(v) for v in flat[:limit])
    more = ", ..." if flat.size > limit else ""
    return f"[{body}{more}]" if arr.ndim else body


def describe(bundle: DataBundle, split: str, take: int) -> str:
    """A text report of a `DataBundle`: counts, inputs/outputs, preprocessing, examples."""
    lines = ["splits: " + ", ".join(f"{k} {v:,} examples" for k, v in bundle.counts.items()),
             f"batch size: {bundle.batch_size}"]
    if bundle.meta.get("data_set"):
        lines.insert(0, f"data set: {bundle.meta['data_set']}")
    if bundle.meta.get("class_names"):
        lines.append("classes: " + ", ".join(bundle.meta["class_names"][:20]))
    for title, mapping in (("inputs", bundle.features), ("targets", bundle.targets)):
        lines.append(f"{title}:")
        for name, fld in mapping.items():
            spec = bundle.fields[fld]
            lines.append(f"  {name:<16} <- {fld:<16} shape {tuple(spec.shape)}  {spec.dtype.name}")
    prep = bundle.preprocessing
    if prep is not None:
        lines.append("serving preprocessing (raw field -> model input):")
        for name, steps in prep.steps.items():
            chain = " -> ".join(f"{kind}({', '.join(ins)})" for kind, ins, _ in steps)
            lines.append(f"  {name}: {chain}")
    data = getattr(bundle, split, None)
    if data is None:
        raise UsageError(f"the spec has no '{split}' split; it has {sorted(bundle.counts)}")
    if take > 0:
        lines.append(f"first {take} examples of '{split}':")
        shown = 0
        for batch in data:
            x, y = batch[:2] if isinstance(batch, tuple) else (batch, {})
            n = len(next(iter(x.values())))
            for i in range(min(n, take - shown)):
                parts = [f"{k}={_short(v[i])}" for k, v in {**x, **y}.items()]
                lines.append(f"  [{shown}] " + "  ".join(parts))
                shown += 1
            if shown >= take:
                break
    return "\n".join(lines)


def image_grid(bundle: DataBundle, split: str, count: int = 36) -> bytes:
    """PNG bytes of a grid of the first `count` images of the split's image input."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    data = getattr(bundle, split, None)
    images = [n for n, f in bundle.features.items()
              if bundle.fields[f].shape.rank == 3 and bundle.fields[f].shape[-1] in (1, 3)]
    if data is None or not images:
        raise UsageError("--out needs an image input (height, width, 1 or 3 channels); "
                         f"this pipeline yields {sorted(bundle.features)}")
    name = images[0]
    labels = [n for n, f in bundle.targets.items() if bundle.fields[f].shape.rank == 0]
    xs, ys = [], []
    for batch in data:
        x, y = batch[:2] if isinstance(batch, tuple) else (batch, {})
        xs.append(np.asarray(x[name]))
        if labels:
            ys.append(np.asarray(y[labels[0]]))
        if sum(len(a) for a in xs) >= count:
            break
    pixels = np.concatenate(xs)[:count].astype(np.float32)
    label_values = np.concatenate(ys)[:count] if ys else None
    side = int(np.ceil(np.sqrt(len(pixels))))
    fig, axes = plt.subplots(side, side, figsize=(side * 1.2, side * 1.2))
    classes = bundle.meta.get("class_names")
    for i, ax in enumerate(np.asarray(axes).reshape(-1)):
        ax.axis("off")
        if i >= len(pixels):
            continue
        img = pixels[i]
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / (hi - lo) if hi > lo else img * 0
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray")
        if label_values is not None:
            label = int(label_values[i])
            ax.set_title(classes[label] if classes and label < len(classes) else str(label),
                         fontsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


@click.command("data")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--split", default="train", show_default=True,
              type=click.Choice(["train", "validation", "test"]), help="Split to show.")
@click.option("--take", default=3, show_default=True, type=click.IntRange(0),
              help="Number of examples to print.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write an image grid (PNG).")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Override a spec parameter (repeatable), e.g. -p small=true.")
@data_dir_option
@handle_errors
def data_command(spec_path: str, split: str, take: int, out: str | None,
                 params: tuple[str, ...]) -> None:
    """Show what a spec's data pipeline yields: names, shapes, dtypes, counts, examples.

    \b
    Example:
      modelspec data specs/lenet5.yaml --take 5 --out grid.png
      modelspec data specs/vgg16.yaml -p small=true --data-dir ~/data
    """
    quiet_tensorflow()
    from modelspec.cli.params import parse_param_overrides
    from modelspec.fileio import atomic_write_bytes
    from modelspec.lang.checks import load_and_check
    spec = load_and_check(spec_path, overrides=parse_param_overrides(params) or None)
    bundle = _bundle(spec)
    click.echo(describe(bundle, split, take))
    if out:
        atomic_write_bytes(out, image_grid(bundle, split))
        click.echo(f"wrote {out}")
