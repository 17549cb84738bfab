"""Import graph of ``src/ase_nnxc``: modules, import circles, upward imports, longest module.

Reads every module's source with :mod:`ast` (nothing is imported), so the figures are exact
and reproducible on any checkout:

    python benchmarks/import_graph.py            # summary
    python benchmarks/import_graph.py --edges    # also every import edge

Every ``import`` statement counts, also those inside functions (a deferred import still ties
the two modules together). ``from ase_nnxc.xc import Feature`` is an edge to the module that
defines ``Feature`` (``ase_nnxc.xc.features``), not to the package ``__init__`` that re-exports
it, so re-exports create no false circles.

A circle is a strongly connected component of two or more modules. An upward import is an
edge from a module to one in a higher layer of :data:`LAYERS` (the package shape of the
project's style guide: units and the plugin registry at the bottom, the command line at the
top); modules of one layer may import each other.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "ase_nnxc"

#: Layers from the bottom up: a module may import its own layer and those below it.
#: Each entry is a module or package prefix; the longest matching prefix decides.
LAYERS: list[tuple[str, ...]] = [
    # Work across processes and the results file they share import nothing of the package.
    ("ase_nnxc.units", "ase_nnxc.plugins", "ase_nnxc.parallel", "ase_nnxc.cache"),
    ("ase_nnxc.system",),
    ("ase_nnxc.integrals", "ase_nnxc.grid"),
    ("ase_nnxc.xc",),
    # The PySCF NumInt evaluates xc functionals on PySCF's own grids: never the SCF of scf/.
    ("ase_nnxc.pyscf",),
    # D4 dispersion is a term added after the SCF, beside it (it asks xc what a functional's base is).
    ("ase_nnxc.scf", "ase_nnxc.dispersion"),
    # Consumers of the core, side by side: the ASE calculator, training (which relaxes
    # geometries with the calculator), the shipped weights and the test helpers.
    ("ase_nnxc.calculator", "ase_nnxc.testing", "ase_nnxc.train", "ase_nnxc.pretrained"),
    ("ase_nnxc.benchmarks",),
    ("ase_nnxc.cli", "ase_nnxc.cli_commands", "ase_nnxc.__main__", "ase_nnxc"),
]


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package (``__init__`` as the package)."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _reexports(modules: dict[str, Path]) -> dict[tuple[str, str], str]:
    """(package, name) -> the module a package ``__init__`` imports ``name`` from."""
    table = {}
    for name, path in modules.items():
        if path.name != "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(name, node, is_package=True)
                for alias in node.names:
                    table[(name, alias.asname or alias.name)] = source
    return table


def import_edges(modules: dict[str, Path]) -> set[tuple[str, str]]:
    """Every (importer, imported) pair between modules of the package."""
    reexports = _reexports(modules)
    edges = set()

    def resolve(target: str, name: str | None) -> str | None:
        if name is not None and f"{target}.{name}" in modules:
            return f"{target}.{name}"
        if name is not None and (target, name) in reexports:
            return resolve(reexports[(target, name)], None) or target
        return target if target in modules else None

    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, node, path.name == "__init__.py")
                targets = [resolve(source, alias.name) for alias in node.names]
            for target in targets:
                if target and target != module and target.startswith(PACKAGE):
                    edges.add((module, target))
    return edges


def circles(modules: dict[str, Path], edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm), sorted."""
    graph: dict[str, list[str]] = {m: [] for m in modules}
    for a, b in edges:
        graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    sys.setrecursionlimit(10000)

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return sorted(found)


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of the longest prefix that matches ``module``."""
    best, best_length = len(LAYERS), -1
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = level, len(prefix)
    return best


def upward_imports(edges: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Edges from a module to one in a higher layer."""
    return sorted((a, b) for a, b in edges if layer_of(b) > layer_of(a))


def line_counts(modules: dict[str, Path]) -> dict[str, int]:
    """Lines of each module's source file."""
    return {name: len(path.read_text().splitlines()) for name, path in modules.items()}


def main(argv: list[str] | None = None) -> int:
    """Print the summary (and with ``--edges`` every edge); exit status 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="also list every import edge")
    parser.add_argument("--root", type=Path, default=ROOT, help="the src folder (default: this checkout's)")
    args = parser.parse_args(argv)
    modules = module_files(args.root)
    edges = import_edges(modules)
    found = circles(modules, edges)
    upward = upward_imports(edges)
    lines = line_counts(modules)
    longest = max(lines, key=lines.get)
    print(f"modules: {len(modules)}, import edges: {len(edges)}")
    print(f"circles: {len(found)}")
    for component in found:
        inner = sorted((a, b) for a, b in edges if a in component and b in component)
        print("  " + ", ".join(component) + ":  " + "; ".join(f"{a} -> {b}" for a, b in inner))
    print(f"upward imports: {len(upward)}")
    for a, b in upward:
        print(f"  {a} -> {b}")
    print(f"longest module: {longest} ({lines[longest]} lines); over 400 lines: {sum(n > 400 for n in lines.values())}")
    if args.edges:
        for a, b in sorted(edges):
            print(f"{a} -> {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
