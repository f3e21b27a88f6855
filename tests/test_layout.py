"""The package layout's rules (docs/ARCHITECTURE.md), checked on the import graph.

The graph comes from `tools/import_graph.py` (every `import`, also those inside functions).
That `modelspec validate` imports no TensorFlow is tested in tests/test_cli.py.
"""

from __future__ import annotations

import importlib.util
import sys

from conftest import REPO_ROOT

_spec = importlib.util.spec_from_file_location("import_graph",
                                               REPO_ROOT / "tools" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
sys.modules["import_graph"] = import_graph
_spec.loader.exec_module(import_graph)

GRAPH = import_graph.graph()


def is_cli(module: str) -> bool:
    """Command-line modules: the `modelspec.cli` package, each package's `cli`, `__main__`."""
    parts = module.split(".")
    return parts[-1] in ("cli", "__main__") or module.startswith("modelspec.cli.")


def test_the_graph_covers_the_package():
    assert "modelspec.lang.checks" in GRAPH and "modelspec.exporting.api" in GRAPH
    assert any(d.startswith("modelspec.lang.") for d in GRAPH["modelspec.cli.main"])


def test_no_import_cycle():
    assert import_graph.cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_graph.cycles(edges) == [["a", "b", "c"]]


def test_no_module_imports_a_package_containing_it():
    """In particular nothing inside imports the public package `modelspec`."""
    assert import_graph.parent_package_imports(GRAPH) == []


def test_no_library_module_imports_a_cli_module():
    wrong = sorted((m, d) for m, deps in GRAPH.items() if not is_cli(m)
                   for d in deps if is_cli(d))
    assert wrong == []


def test_cli_modules_are_recognised():
    clis = {m for m in GRAPH if is_cli(m)}
    assert {"modelspec.cli.main", "modelspec.exporting.cli", "modelspec.training.cli",
            "modelspec.data.cli", "modelspec.techniques.cli", "modelspec.__main__"} <= clis
    assert not is_cli("modelspec.exporting.predict")


def test_architecture_lists_every_module():
    """docs/ARCHITECTURE.md's package layout names each module (its file name, under its
    package's heading)."""
    text = (REPO_ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    layout = text[text.index("## Package layout"):]
    packages = {m.rsplit(".", 1)[0] for m in GRAPH}
    missing = []
    for module in sorted(set(GRAPH) - packages):
        parts = module.split(".")
        if len(parts) == 2:  # modelspec/errors.py, ...
            package, name = "## Package layout", f"modelspec/{parts[1]}.py"
        else:
            package, name = f"modelspec/{parts[1]}/", "/".join(parts[2:]) + ".py"
        if package not in layout or name not in layout:
            missing.append(module)
    assert missing == []


def test_design_citations_point_at_docs():
    """The code cites the design as "docs/DESIGN.md §N": that section exists in docs/."""
    import re
    design = (REPO_ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\d+)\.", design, re.M))
    cited = set()
    for path in (REPO_ROOT / "modelspec").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "DESIGN §" not in text, f"{path}: cite docs/DESIGN.md §N"
        cited |= set(re.findall(r"DESIGN\.md §(\d+)", text))
    assert cited and cited <= sections, (cited, sections)


def test_front_end_modules_import_no_tensorflow():
    import subprocess
    code = ("import sys, modelspec.targets, modelspec.exporting.options, modelspec.lang.checks; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr
