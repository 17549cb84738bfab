"""The documentation: its Python examples run, its reference tables match the code, every public name is documented.

The site itself is built by ``mkdocs build --strict`` in ``make test`` (broken links and
anchors fail there); these tests need no MkDocs.
"""

import dataclasses
import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
_spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hooks)

#: A fenced Python block, unindented; ``<!-- docs: no-run -->`` on the line before skips it.
BLOCK = re.compile(r"^(<!-- docs: no-run -->\n)?```python\n(.*?)^```$", re.S | re.M)
PAGES = sorted(p for p in DOCS.rglob("*.md") if p.name != "pypi.md")


def _runnable_blocks(page: Path) -> list[str]:
    return [code for skip, code in BLOCK.findall(page.read_text()) if not skip]


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _runnable_blocks(p)], ids=lambda p: str(p.relative_to(DOCS))
)
def test_python_examples_of_the_page_run(page, tmp_path, monkeypatch):
    # The blocks of one page share a namespace, as a reader running them in turn would.
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for number, code in enumerate(_runnable_blocks(page)):
        exec(compile(code, f"{page.name}, block {number + 1}", "exec"), namespace)


def test_every_page_has_a_place_in_the_navigation():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python", "#"))

    def pages(nav):
        for item in nav:
            if isinstance(item, str):
                yield item
            else:
                for value in item.values():
                    yield from pages(value) if isinstance(value, list) else [value]

    listed = set(pages(config["nav"]))
    assert {str(p.relative_to(DOCS)) for p in PAGES} == listed


def _public_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "src" / "ase_nnxc").rglob("*.py")):
        parts = list(path.relative_to(ROOT / "src").with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return names


def test_api_reference_renders_every_public_module():
    directives = set(re.findall(r"^::: (\S+)$", "\n".join(p.read_text() for p in (DOCS / "api").glob("*.md")), re.M))
    assert set(_public_modules()) - directives == set()


def _public_names(module):
    yield module.__name__, module
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            yield f"{module.__name__}.{name}", value
        if inspect.isclass(value):
            for attribute, member in vars(value).items():
                if not attribute.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                    # inspect.getdoc follows the class hierarchy: an override is documented by its base.
                    yield f"{module.__name__}.{name}.{attribute}", getattr(value, attribute)


def test_every_public_name_has_a_docstring():
    missing = [
        qualified
        for module in _public_modules()
        for qualified, value in _public_names(importlib.import_module(module))
        if not inspect.getdoc(value)
    ]
    assert missing == []


def test_calculator_table_lists_every_parameter_with_its_default():
    from ase_nnxc.calculator import NNXC

    table = hooks.calculator_options()
    for name, default in NNXC.default_parameters.items():
        assert re.search(rf"^\| `{name}` \| [^|]+ \| `{re.escape(repr(default))}` \|", table, re.M), name


def test_calculator_table_refuses_an_undocumented_parameter(monkeypatch):
    from ase_nnxc.calculator import NNXC

    monkeypatch.setattr(NNXC, "default_parameters", {**NNXC.default_parameters, "undocumented": 1})
    with pytest.raises(hooks.DocsError, match="undocumented"):
        hooks.calculator_options()


def test_cli_page_lists_every_option_of_every_subcommand():
    from ase_nnxc.cli import SUBCOMMANDS, build_parser

    page = hooks.cli_reference()
    subcommands = hooks._subcommands(build_parser())
    assert len(subcommands) == len(SUBCOMMANDS)
    for name, parser in subcommands.items():
        section = page.split(f"## `nnxc {name}`")[1].split("\n## ")[0]
        for action in parser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in section, (name, flag)


def test_config_keys_of_the_docs_are_the_ones_the_reader_accepts(tmp_path):
    from ase_nnxc.train.config import TrainConfig

    values = {"train": "data.yaml", "output": "out", "validation": 0.25, "model.name": "nn-gga",
              "model.options": {"hidden": [4]}, "base": "pbe", "train_b": False, "loss.name": "l1",
              "loss.options": {}, "loss.weights": {"ae": 2.0}, "optimizer.name": "sgd", "optimizer.lr": 0.5,
              "epochs": 3, "batch_size": 2, "seed": 7, "scf": {"grid_level": 1}, "pretrain": {"epochs": 1},
              "dispersion": "d4"}
    documented = re.findall(r"^\| `([a-z_.]+)` \|", hooks.train_config(), re.M)
    assert sorted(documented) == sorted(values)
    raw: dict = {}
    for key, value in values.items():
        head, _, tail = key.partition(".")
        if tail:
            raw.setdefault(head, {})[tail] = value
        else:
            raw[key] = value
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    config = TrainConfig.from_yaml(tmp_path / "config.yaml")
    fields = {hooks.TRAIN_YAML_KEYS.get(f.name, f.name): getattr(config, f.name) for f in dataclasses.fields(config)}
    for key, value in values.items():
        if key not in ("train", "output"):  # made relative to the file
            assert fields[key] == value, key
    assert Path(config.output) == tmp_path / "out"


def test_dataset_and_scf_tables_cover_every_field():
    from ase_nnxc.scf.config import SCFConfig
    from ase_nnxc.train.dataset import Entry, SystemSpec

    dataset, scf = hooks.dataset_format(), hooks.scf_config()
    for cls, table, prefix in ((Entry, dataset, ""), (SystemSpec, dataset, ""), (SCFConfig, scf, "scf.")):
        for field in dataclasses.fields(cls):
            assert f"| `{prefix}{field.name}` |" in table, (cls.__name__, field.name)


def test_unknown_marker_is_an_error():
    with pytest.raises(hooks.DocsError, match="nnxc:nonsense"):
        hooks.expand("text\n<!-- nnxc:nonsense -->\n", "page.md")


def test_dataset_table_defaults_are_the_readers(tmp_path):
    from ase_nnxc.train.dataset import load_dataset

    table = hooks.dataset_format()
    (tmp_path / "set.yaml").write_text(
        yaml.safe_dump([{"e_type": "force", "systems": [{"moldesc": "H 0 0 0; H 0 0 1.4"}]}])
    )
    (entry,) = load_dataset(tmp_path / "set.yaml")
    assert f"| `basis` | `str` | `{entry.systems[0].basis!r}` |" in table
    assert entry.name == "force-0" and "`<e_type>-<index>`" in table
    assert float(entry.true_val) == 0.0 and "`0` for `force`" in table
