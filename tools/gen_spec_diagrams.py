"""Draws `specs/diagrams/<name>.svg` for every spec: the catalogue's small layer graphs.

Each diagram is `modelspec show SPEC --diagram FILE --collapse` at the spec's reference
configuration (its `params:` defaults): Graphviz through pydot, blocks drawn as one box each
so that the deep networks stay small. `tools/gen_spec_catalog.py` embeds the files that exist;
run this first when a spec's graph changes (it builds every model: about a minute here).

Usage:
    python tools/gen_spec_diagrams.py                 # every spec
    python tools/gen_spec_diagrams.py lenet5 gan      # some
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SPECS = Path(__file__).resolve().parents[1] / "specs"


def draw(path: Path, out_dir: Path) -> Path:
    """Builds one spec and writes its collapsed diagram as SVG."""
    import keras

    from modelspec.build.compiler import build_models
    from modelspec.build.diagram import model_graph, write_diagram
    from modelspec.lang.checks import load_and_check

    spec = load_and_check(path)
    record: dict = {}
    models = build_models(spec, record=record)
    graph = model_graph(spec, models, record, collapse=True)
    written = write_diagram(graph, out_dir / f"{path.stem}.svg")
    keras.backend.clear_session()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="spec names (default: all)")
    args = parser.parse_args(argv)
    out_dir = SPECS / "diagrams"
    out_dir.mkdir(exist_ok=True)
    paths = [SPECS / f"{n}.yaml" for n in args.names] or sorted(SPECS.glob("*.yaml"))
    for path in paths:
        print(f"wrote {draw(path, out_dir)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
