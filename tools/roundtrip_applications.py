"""Round-trips every `keras.applications` model (and the shipped specs) through
`modelspec import`, and writes the table of spec lengths in docs/IMPORT.md.

For each application, built with `weights=None` at Keras's default input size: import it
(blocks on), check the spec, build it, copy the weights and compare (same layer graph, same
weight shapes in order, identical outputs: `modelspec.importer.roundtrip.compare`). Each
model runs in its own process (the largest hold 350 M weights twice). Keras's own layer
classes of its applications (ConvNeXt's LayerScale, InceptionResNetV2's CustomScaleLayer)
are built-in layer types (`modelspec.build.components.application_layers`): no plugin.

Usage:
    python tools/roundtrip_applications.py                 # everything, writes the docs
    python tools/roundtrip_applications.py ResNet50 VGG16  # some, prints only
    python tools/roundtrip_applications.py --table-from LOG [ZOO_LOG]  # docs from printed rows
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "IMPORT.md"
BEGIN, END = "<!-- applications table: begin -->", "<!-- applications table: end -->"
ZOO_BEGIN, ZOO_END = "<!-- zoo table: begin -->", "<!-- zoo table: end -->"
# Run last: the largest (hundreds of millions of weights, or 480-600 pixel inputs).
HEAVY = {"ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge", "EfficientNetB5", "EfficientNetB6",
         "EfficientNetB7", "EfficientNetV2L", "EfficientNetV2M", "NASNetLarge", "ResNet152",
         "ResNet152V2", "InceptionResNetV2"}


def run_one(name: str) -> dict:
    """Imports, rebuilds and compares one application (in this process)."""
    from modelspec.tfenv import quiet_tensorflow
    quiet_tensorflow()
    import keras

    from modelspec.build.compiler import build_from_spec
    from modelspec.importer.convert import UnsupportedModelError, convert
    from modelspec.importer.reader import ModelSource
    from modelspec.importer.roundtrip import compare

    row: dict = {"name": name}
    start = time.perf_counter()
    model = getattr(keras.applications, name)(weights=None)
    row["build_s"] = time.perf_counter() - start
    row["layers"] = len(model.layers)
    row["weights"] = model.count_params()
    start = time.perf_counter()
    try:
        result = convert(ModelSource(name, json.loads(model.to_json()), model=model))
    except UnsupportedModelError as err:
        row["unsupported"] = sorted({item.class_name for item in err.unsupported})
        return row
    row["import_s"] = time.perf_counter() - start
    row["lines"] = result.text.count("\n")
    row["blocks"] = len(result.document.get("blocks") or {})
    out = Path("/tmp") / f"modelspec_roundtrip_{name}.yaml"
    out.write_text(result.text)
    start = time.perf_counter()
    rebuilt = build_from_spec(str(out))
    if isinstance(rebuilt, dict):
        rebuilt = rebuilt[result.graph.name]
    report = compare(model, rebuilt, result.graph)
    row["roundtrip_s"] = time.perf_counter() - start
    row.update(same_graph=report.same_graph, same_weights=report.same_weights,
               max_difference=report.max_difference, ok=report.ok)
    return row


def run_zoo() -> list[dict]:
    """Shipped specs: spec → Keras → import; lines written by hand and by the importer
    (built with `small: true` where a spec has it: same layers, smaller sizes)."""
    import glob

    from modelspec.tfenv import quiet_tensorflow
    quiet_tensorflow()
    import keras

    from modelspec.build.compiler import build_from_spec, build_models
    from modelspec.importer.convert import convert
    from modelspec.importer.reader import ModelSource
    from modelspec.importer.roundtrip import compare
    from modelspec.lang.checks import load_and_check

    rows = []
    for path in sorted(glob.glob(str(REPO / "specs" / "*.yaml"))):
        checked = load_and_check(path)
        if "small" in checked.params:  # the same structure and spec, smaller sizes
            checked = load_and_check(path, overrides={"small": True})
        for name, model in build_models(checked).items():
            result = convert(ModelSource(path, json.loads(model.to_json()), model=model))
            out = Path("/tmp") / "modelspec_roundtrip_zoo.yaml"
            out.write_text(result.text)
            rebuilt = build_from_spec(str(out))
            rebuilt = rebuilt[result.graph.name] if isinstance(rebuilt, dict) else rebuilt
            report = compare(model, rebuilt, result.graph)
            rows.append({"spec": Path(path).stem, "model": name, "ok": report.ok,
                         "params": model.count_params(),
                         "written": Path(path).read_text().count("\n"),
                         "imported": result.text.count("\n")})
            print(json.dumps(rows[-1]), flush=True)
        keras.backend.clear_session()
    return rows


def _subprocess(name: str) -> dict:
    args = [sys.executable, __file__, "--one", name]
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"name": name, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(lines[-1])


def table(rows: list[dict]) -> str:
    out = ["| application | Keras layers | weights | spec lines | blocks | round trip | "
           "build / import / rebuild+compare (s) |", "|---|---:|---:|---:|---:|---|---|"]
    for row in rows:
        if "unsupported" in row:
            result = f"unsupported: {', '.join(row['unsupported'])}"
            lines = blocks = times = "—"
        elif "error" in row:
            result, lines, blocks, times = f"error: {row['error']}", "—", "—", "—"
        else:
            result = ("identical" if row["ok"] else
                      f"graph {row['same_graph']}, weights {row['same_weights']}, "
                      f"max diff {row['max_difference']:.2g}")
            lines, blocks = row["lines"], row["blocks"]
            times = f"{row['build_s']:.1f} / {row['import_s']:.2f} / {row['roundtrip_s']:.1f}"
        weights = f"{row['weights']:,}" if "weights" in row else "—"
        out.append(f"| {row['name']} | {row.get('layers', '—')} | {weights} | "
                   f"{lines} | {blocks} | {result} | {times} |")
    return "\n".join(out)


def zoo_table(rows: list[dict]) -> str:
    out = ["| spec | model | weights (small: true where the spec has it) | lines written "
           "(with comments, data, train) | lines imported | round trip |",
           "|---|---|---:|---:|---:|---|"]
    for row in rows:
        out.append(f"| {row['spec']} | {row['model']} | {row['params']:,} | {row['written']} "
                   f"| {row['imported']} | {'identical' if row['ok'] else 'DIFFERENT'} |")
    return "\n".join(out)


def _replace(text: str, begin: str, end: str, body: str) -> str:
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--one":
        print(json.dumps(run_one(argv[1])), flush=True)
        return 0
    if argv and argv[0] == "--zoo":
        run_zoo()
        return 0
    if argv and argv[0] == "--table-from":  # rows printed by earlier (partial) runs
        rows = _rows_from(Path(argv[1]))
        zoo = _json_lines(Path(argv[2]).read_text()) if len(argv) > 2 else None
        _write_docs(rows, zoo)
        return 0
    sys.path.insert(0, str(REPO))
    from modelspec.lang import catalog
    names = argv or sorted(catalog.catalog()["applications"], key=lambda n: (n in HEAVY, n))
    rows = []
    for name in names:
        row = _subprocess(name)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if not argv:
        _write_docs(rows)
    return 0 if all(row.get("ok") for row in rows) else 1


def _rows_from(log: Path) -> list[dict]:
    """The last row of each application in a log of printed rows, in the catalogue's order."""
    from modelspec.lang import catalog
    last: dict = {}
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            if "unsupported" not in row or row["name"] not in last:
                last[row["name"]] = row
    return [last.get(name, {"name": name, "error": ["not run (time)"]})
            for name in sorted(catalog.catalog()["applications"])]


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _write_docs(rows: list[dict], zoo: list[dict] | None = None) -> None:
    from modelspec.fileio import atomic_write_text
    text = _replace(DOC.read_text(), BEGIN, END, table(rows))
    if zoo is None:
        zoo = _json_lines(subprocess.run([sys.executable, __file__, "--zoo"],
                                         capture_output=True, text=True, cwd=REPO).stdout)
    text = _replace(text, ZOO_BEGIN, ZOO_END, zoo_table(zoo))
    atomic_write_text(DOC, text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
