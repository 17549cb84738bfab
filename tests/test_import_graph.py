"""The package's import graph (benchmarks/import_graph.py): no new circle, no new upward import, short modules."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[1]
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "benchmarks" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_graph)

#: None left: the checkpoint format is ase_nnxc.xc.checkpoint, below the registry, which loads
#: checkpoints (their base functionals through itself); training builds functionals above both.
KNOWN_CIRCLES: list = []
KNOWN_UPWARD: list = []
#: "Under about 400 lines" (the style guide); a module past this should be split by concern.
MAX_LINES = 400


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_tool_finds_circles_through_deferred_imports_but_not_through_reexports(tmp_path):
    _write(
        tmp_path,
        {
            "ase_nnxc/__init__.py": "",
            "ase_nnxc/units.py": "",
            "ase_nnxc/xc/__init__.py": "from ase_nnxc.xc.base import Base\n",
            "ase_nnxc/xc/base.py": "from ase_nnxc.units import *\n",
            "ase_nnxc/xc/neural.py": "from ase_nnxc.xc import Base\n",  # via the re-export: no circle
            "ase_nnxc/train/__init__.py": "",
            "ase_nnxc/train/a.py": "def f():\n    from ase_nnxc.train import b\n",
            "ase_nnxc/train/b.py": "from . import a\n",
            "ase_nnxc/scf/__init__.py": "",
            "ase_nnxc/scf/driver.py": "import ase_nnxc.train.a\n",
        },
    )
    modules = import_graph.module_files(tmp_path)
    edges = import_graph.import_edges(modules)
    assert ("ase_nnxc.xc.neural", "ase_nnxc.xc.base") in edges
    assert ("ase_nnxc.xc.neural", "ase_nnxc.xc") not in edges
    assert import_graph.circles(modules, edges) == [["ase_nnxc.train.a", "ase_nnxc.train.b"]]
    assert import_graph.upward_imports(edges) == [("ase_nnxc.scf.driver", "ase_nnxc.train.a")]


def test_package_has_no_new_circle_or_upward_import():
    modules = import_graph.module_files()
    edges = import_graph.import_edges(modules)
    assert len(modules) > 40 and len(edges) > 100  # the whole package was read
    assert import_graph.circles(modules, edges) == KNOWN_CIRCLES
    assert import_graph.upward_imports(edges) == KNOWN_UPWARD


def test_every_module_is_short():
    lines = import_graph.line_counts(import_graph.module_files())
    assert not {name: n for name, n in lines.items() if n > MAX_LINES}
