"""Import layers, read from the source with `ast` (nothing is imported): every module of reidkit,
and of commands/ (installed as reidkit.commands), with all its imports, function-local and
TYPE_CHECKING ones included. No domain package imports a stage or the command line, and neither
the packages nor the modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"reidkit": ROOT / "reidkit", "reidkit.commands": ROOT / "commands"}
DOMAIN = ("data", "body", "render", "models", "cluster", "evaluation", "baselines", "train",
          "generate", "scoring", "synth")
UPPER = ("reidkit.stages", "reidkit.commands")

Graph = dict[str, dict[str, list[str]]]  # importer → imported → where ("module:line")


def modules(sources: dict[str, Path]) -> dict[str, Path]:
    """Dotted name → file, for every .py file under each source folder."""
    found = {}
    for prefix, folder in sources.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([prefix, *parts])] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """The known modules `name` imports anywhere in its file, with the line of each import."""

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from pkg import name`, pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            module = resolve(target)
            if module is not None and module != name:
                found.append((module, node.lineno))
    return found


def package(module: str) -> str:
    """reidkit.cluster.labels → reidkit.cluster; a top-level module (reidkit.runs) is its own."""
    return ".".join(module.split(".")[:2])


def import_graph(sources: dict[str, Path], level=lambda module: module) -> Graph:
    """Import arrows between `level(module)`s (modules by default), arrows within one left out."""
    known = modules(sources)
    graph: Graph = {level(m): {} for m in known}
    for name, path in known.items():
        for module, line in imported(name, path, known):
            a, b = level(name), level(module)
            where = graph[a].setdefault(b, []) if a != b else []
            if f"{name}:{line}" not in where:
                where.append(f"{name}:{line}")
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One circle of the graph (its nodes, the first repeated at the end), or None: a depth-first
    search that meets a node still on its own path."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _explain(graph: Graph, cycle: list[str]) -> str:
    pairs = zip(cycle[:-1], cycle[1:], strict=True)
    return "; ".join(f"{a} -> {b} ({', '.join(graph[a][b])})" for a, b in pairs)


def test_the_sources_and_their_imports_are_read():
    known = modules(SOURCES)
    for name in ("reidkit.runs", "reidkit.stages.warmup", "reidkit.render.rasterize",
                 "reidkit.commands.app", "reidkit.cluster"):
        assert name in known
    packages = import_graph(SOURCES, package)
    assert "reidkit.baselines" in packages["reidkit.stages"]
    assert "reidkit.stages" in packages["reidkit.commands"]
    # a function-local import is read: the rasteriser loads its optional backend on demand
    assert "reidkit.render.pytorch3d_backend" in import_graph(SOURCES)["reidkit.render.rasterize"]


def test_domain_packages_import_no_stage_and_no_command():
    graph = import_graph(SOURCES, package)
    wrong = {f"reidkit.{d} -> {up}": graph[f"reidkit.{d}"][up]
             for d in DOMAIN for up in UPPER if up in graph[f"reidkit.{d}"]}
    assert not wrong, wrong


def test_packages_import_no_circle():
    graph = import_graph(SOURCES, package)
    cycle = find_cycle(graph)
    assert cycle is None, _explain(graph, cycle)


def test_modules_import_no_circle():
    graph = import_graph(SOURCES)
    cycle = find_cycle(graph)
    assert cycle is None, _explain(graph, cycle)


def test_a_circle_is_found_through_a_function_local_import(tmp_path):
    pkg = tmp_path / "reidkit"
    for folder, text in (("", ""), ("data", ""), ("body", "")):
        (pkg / folder).mkdir(parents=True, exist_ok=True)
        (pkg / folder / "__init__.py").write_text(text)
    (pkg / "data" / "folder.py").write_text("from reidkit.errors import ConfigError\n")
    (pkg / "errors.py").write_text("")
    (pkg / "body" / "model.py").write_text("from reidkit.data import folder\n")
    sources = {"reidkit": pkg}
    assert find_cycle(import_graph(sources, package)) is None
    (pkg / "data" / "mesh.py").write_text("def load():\n    from reidkit.body.model import X\n")
    assert find_cycle(import_graph(sources, package)) == ["reidkit.body", "reidkit.data",
                                                          "reidkit.body"]
    assert find_cycle(import_graph(sources)) is None  # the modules themselves form no circle
    (pkg / "data" / "folder.py").write_text("from . import mesh\n")
    (pkg / "data" / "mesh.py").write_text("from .folder import X\n")
    assert find_cycle(import_graph(sources)) == ["reidkit.data.folder", "reidkit.data.mesh",
                                                 "reidkit.data.folder"]
