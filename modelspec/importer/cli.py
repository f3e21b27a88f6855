"""`modelspec import MODEL --output spec.yaml [--weights]`."""

from __future__ import annotations

from pathlib import Path

import click

from modelspec.cli.util import handle_errors
from modelspec.errors import UsageError


@click.command("import")
@click.argument("model")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the spec here (default: print it).")
@click.option("--weights", is_flag=True,
              help="Also write the model's weights beside the spec (SPEC.weights.h5, Keras's "
                   "format) and start the spec's model from them (model: {weights: ...}).")
@click.option("--no-blocks", is_flag=True,
              help="Write every layer; do not fold repeated structure into blocks.")
@click.option("--input-shape", metavar="H,W,C",
              help="An application's input shape (default: Keras's, e.g. 224,224,3).")
@click.option("--name", help="The spec's name (default: the Keras model's name).")
@handle_errors
def import_command(model: str, output: str | None, weights: bool, no_blocks: bool,
                   input_shape: str | None, name: str | None) -> None:
    """Write a Keras model as a spec: a .keras file, a JSON config or an application.

    \b
    MODEL is read as data (no code in it runs): a .keras file (model.save), a JSON config
    (model.to_json()) or a keras.applications name built with weights=None. The spec has
    chains where the model is a chain, `in:` only at branches and merges, ids from the
    Keras layer names, only non-default arguments, and blocks with repeat/first/vary
    where the model repeats itself. Layers a spec cannot express (Lambda, custom classes)
    are listed one by one and nothing is written; a custom layer class registered with
    --plugin is imported by its name.

    \b
    Examples:
      modelspec import model.keras --output model.yaml --weights
      modelspec import ResNet50 -o resnet50.yaml
      modelspec --plugin my_layers.py import model.keras -o model.yaml
    """
    from modelspec.importer.convert import convert, write_spec
    from modelspec.importer.reader import read_model

    if weights and not output:
        raise UsageError("--weights needs --output: the weights are written beside the spec")
    source = read_model(model, _shape(input_shape))
    if not output:
        click.echo(convert(source, blocks=not no_blocks, name=name).text, nl=False)
        return
    written = write_spec(source, Path(output), weights=weights, blocks=not no_blocks,
                         name=name)
    for path in written:
        click.echo(f"wrote {path}")


def _shape(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--input-shape '{text}': expected integers such as 224,224,3") \
            from None
