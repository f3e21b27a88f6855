"""The `modelspec` command line (click).

Commands are loaded lazily: `modelspec validate` and `modelspec schema` never import
TensorFlow, so checking specs stays well under a second. Exit codes (docs/DESIGN.md §2): 0 ok,
1 internal error, 2 invalid spec or usage, 3 training diverged, 4 state conflict.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from modelspec.cli.params import parse_param_overrides
from modelspec.cli.preflight import preflight
from modelspec.cli.util import OutputPath, handle_errors
from modelspec.errors import SpecError, UsageError
from modelspec.tfenv import quiet_tensorflow
from modelspec.version import __version__

if TYPE_CHECKING:
    from modelspec.lang.flatgraph import Node

# name → (module:attribute, one-line help). Help is static so that `--help` imports nothing.
LAZY_COMMANDS = {
    "train": ("modelspec.training.cli:train_command", "Train a spec; resumable, checkpointed."),
    "evaluate": ("modelspec.training.cli:evaluate_command",
                 "Evaluate a trained run (or a spec) on its test data."),
    "export": ("modelspec.exporting.cli:export_command",
               "Export a spec or run as a versioned SavedModel."),
    "predict": ("modelspec.exporting.cli:predict_command",
                "Predict with an export or run on JSON/CSV/.npy/image input."),
    "data": ("modelspec.data.cli:data_command", "Show what a spec's data pipeline yields."),
    "import": ("modelspec.importer.cli:import_command",
               "Write a Keras model (.keras, JSON config, application) as a spec."),
    "attack": ("modelspec.techniques.cli:attack_command",
               "Adversarial examples (FGSM, untargeted or --target CLASS) on a run's data."),
    "dream": ("modelspec.techniques.cli:dream_command",
              "Synthesise an input for a class, or DeepDream on a layer."),
    "compare": ("modelspec.compare.cli:compare_command",
                "Compare runs: metrics, parameters, epochs, times, spec changes, curves."),
    "tune": ("modelspec.tune.cli:tune_command",
             "Search a spec's params with KerasTuner (local or distributed); best.yaml."),
    "style": ("modelspec.techniques.cli:style_command",
              "Neural style transfer (Gatys et al. 2015) on a convolutional spec's layers."),
    "transfer": ("modelspec.techniques.transfer.cli:transfer_command",
                 "Instance re-weighting and TCA vs. source only on a spec's two domains."),
    "visualize": ("modelspec.techniques.cli:visualize_command",
                  "Zeiler–Fergus: a layer's top activating patches and their deconvnet "
                  "projections."),
}


# Lazy commands whose argument is not a spec file or run directory: no preflight path check.
NOT_A_SPEC_OR_RUN = {"import"}


class LazyGroup(click.Group):
    """A click group whose heavy commands are imported only when they run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name][0].split(":")
            command = getattr(importlib.import_module(module), attr)
            # `import MODEL` names a Keras model (a file or an application), not a spec or run
            return command if name in NOT_A_SPEC_OR_RUN else preflight(command)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS:
                rows.append((name, LAZY_COMMANDS[name][1]))
            else:
                cmd = super().get_command(ctx, name)
                rows.append((name, cmd.get_short_help_str(80) if cmd else ""))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelspec")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE_OR_FILE",
              help="Import a Python module (name or .py file) that registers layers, losses, "
                   "metrics or callbacks (modelspec.register_layer, register_loss, "
                   "register_metric, register_callback) before the command runs. Repeatable.")
@click.option("--confine", is_flag=True,
              help="Refuse any path in a spec that resolves outside the spec's folder or "
                   "MODELSPEC_DATA_DIR (the same as MODELSPEC_CONFINE=1; docs/RELIABILITY.md).")
@handle_errors
def main(plugins: tuple[str, ...], confine: bool) -> None:
    """modelspec: declarative model specs for Keras 3 on TensorFlow.

    \b
    Write a network as YAML, then:
      modelspec validate specs/lenet5.yaml     # check it (no TensorFlow)
      modelspec show specs/lenet5.yaml         # build it: layers, shapes, parameters
      modelspec train specs/lenet5.yaml        # train it (resumable)
      modelspec export runs/lenet5 --output exported/lenet5
      modelspec attack runs/lenet5 -e 0.05,0.1,0.2   # FGSM adversarial examples

    
    Extensions come through Python only, never from a spec:
      modelspec --plugin my_layers.py show my_spec.yaml
    """
    if confine:
        os.environ["MODELSPEC_CONFINE"] = "1"  # read by modelspec.confine in every command
    for plugin in plugins:
        load_plugin(plugin)


def load_plugin(name: str) -> None:
    """Imports a plugin module named on the command line (the user's own code, by choice).

    Raises:
        UsageError: If the module or file cannot be imported.
    """
    import importlib.util
    from pathlib import Path

    quiet_tensorflow()  # plugins define Keras layers: load TensorFlow without its chatter
    try:
        if name.endswith(".py"):
            path = Path(name)
            if not path.is_file():
                raise UsageError(f"--plugin '{name}': no such file")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            if module_spec is None or module_spec.loader is None:
                raise UsageError(f"--plugin '{name}': not a Python file")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[path.stem] = module
            module_spec.loader.exec_module(module)
        else:
            importlib.import_module(name)
    except UsageError:
        raise
    except Exception as err:
        raise UsageError(f"--plugin '{name}' failed to import: {type(err).__name__}: {err}") \
            from None


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
@handle_errors
def validate(specs: tuple[str, ...], quiet: bool) -> None:
    """Check specs: YAML, schema and semantics (does not import TensorFlow).

    \b
    Every problem of every file is printed as
      file:line:col: path: what is wrong — what was expected (did you mean ...?)
    and the exit code is 2 when any spec is invalid.

    \b
    Examples:
      modelspec validate specs/lenet5.yaml
      modelspec validate specs/*.yaml
    """
    from modelspec.lang.checks import load_and_check

    failed = 0
    for path in specs:
        try:
            load_and_check(path)
        except SpecError as err:
            failed += 1
            click.echo(err.format(), err=True)
            continue
        if not quiet:
            click.echo(f"{path}: ok")
    if failed:
        click.echo(f"{failed} of {len(specs)} spec(s) invalid", err=True)
        sys.exit(2)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Override a spec parameter (repeatable), e.g. -p num_classes=10.")
@click.option("--diagram", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also draw the layer graph to FILE (.svg, .png, .pdf; needs Graphviz).")
@click.option("--collapse", is_flag=True, help="In the diagram, draw each block as one box.")
@handle_errors
def show(spec: str, params: tuple[str, ...], diagram: str | None, collapse: bool) -> None:
    """Build a spec and print its layers, output shapes and parameter counts.

    \b
    This is the full check: load, schema, semantics and the symbolic Keras build.
    Exit code 2 on any error, so `show` catches every mistake.

    \b
    Examples:
      modelspec show specs/resnet34.yaml
      modelspec show specs/vgg16.yaml -p size=32 -p num_classes=10
      modelspec show specs/resnet34.yaml --diagram resnet34.svg --collapse
    """
    quiet_tensorflow()
    from modelspec.build.compiler import build_models
    from modelspec.build.show import render_models
    from modelspec.lang.checks import load_and_check

    checked = load_and_check(spec, overrides=parse_param_overrides(params) or None)
    record: dict[str, list[tuple[Node, Any]]] = {}
    models = build_models(checked, record=record, allocate=False)  # shapes, no weights
    click.echo(render_models(checked, models, record))
    if diagram:
        from modelspec.build.diagram import model_graph, write_diagram
        written = write_diagram(model_graph(checked, models, record, collapse), diagram)
        click.echo(f"diagram: {written}")


@main.command()
@click.option("--output", "-o", type=OutputPath(dir_okay=False),
              help="Write to this file instead of standard output.")
@handle_errors
def schema(output: str | None) -> None:
    """Print the JSON Schema (Draft 2020-12) of specs, for editors and tools.

    \b
    Example (VS Code with the YAML extension):
      modelspec schema -o modelspec.schema.json
      # then, first line of a spec:
      # yaml-language-server: $schema=modelspec.schema.json
    """
    from modelspec.lang.schema.document import document_schema

    text = json.dumps(document_schema(), indent=1, sort_keys=False) + "\n"
    if output:
        from modelspec.fileio import atomic_write_text
        atomic_write_text(output, text)
    else:
        click.echo(text, nl=False)


if __name__ == "__main__":
    main()
