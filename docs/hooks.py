"""MkDocs hooks: the reference tables of the docs, generated from the code so nothing is written twice.

A page asks for a table with a marker on a line of its own, ``<!-- nnxc:NAME -->``; the
marker is replaced by what :data:`GENERATORS` makes of it when the site is built:

``calculator-options``
    every parameter of :class:`ase_nnxc.NNXC`, from ``default_parameters`` and the class docstring;
``cli``
    every ``nnxc`` subcommand and option, from the argparse parser the command itself uses;
``train-config`` and ``scf-config``
    every key of a training configuration, from the ``TrainConfig`` and ``SCFConfig`` dataclasses;
``dataset-format``
    every key of a dataset entry and of its systems, from ``Entry`` and ``SystemSpec``;
``shipped-functionals``
    the functionals of ``src/ase_nnxc/models/index.json``;
``version``
    the package version (also in the site name).

A missing parameter description, an unknown marker or a field without a docstring stops
the build with an error naming it. ``tests/test_docs.py`` imports this module to check the
tables against the code.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # build from a checkout without installing it
    sys.path.insert(0, str(ROOT / "src"))

MARKER = re.compile(r"^<!-- nnxc:([a-z-]+) -->$", re.M)


class DocsError(RuntimeError):
    """A generated table cannot be made: the message names what is missing."""


def _markdown(text: str) -> str:
    """Docstring markup as Markdown: ``code`` and Sphinx roles become `code`."""
    text = re.sub(r":(?:class|func|meth|mod|attr|data|exc):`~([^`]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    text = re.sub(r":(?:class|func|meth|mod|attr|data|exc):`([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _cell(text: str) -> str:
    """One Markdown table cell: a single line, pipes escaped."""
    return " ".join(_markdown(str(text)).split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def numpy_parameters(docstring: str) -> dict[str, tuple[str, str]]:
    """``name -> (type line, description)`` of the ``Parameters`` section of a NumPy-style docstring.

    A line ``a, b : str`` documents both ``a`` and ``b``.
    """
    text = inspect.cleandoc(docstring or "")
    match = re.search(r"^Parameters\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", text, re.S | re.M)
    if not match:
        return {}
    found: dict[str, tuple[str, str]] = {}
    names: list[str] = []
    kind, lines = "", []
    for line in match.group(1).splitlines() + ["END :"]:
        if line and not line[0].isspace():
            for name in names:
                found[name] = (kind, " ".join(lines))
            head, _, kind = line.partition(" : ")
            names, lines = [n.strip() for n in head.split(",")], []
        elif line.strip():
            lines.append(line.strip())
    return found


def calculator_options() -> str:
    """Table of every :class:`~ase_nnxc.NNXC` parameter: type, default and description."""
    from ase_nnxc.calculator import NNXC

    documented = numpy_parameters(NNXC.__doc__)
    rows = []
    for name, default in NNXC.default_parameters.items():
        if name not in documented:
            raise DocsError(f"NNXC parameter {name!r} is not described in the NNXC class docstring")
        kind, description = documented[name]
        kind = kind.split(", default")[0]
        rows.append([f"`{name}`", kind, f"`{default!r}`", description])
    return _table(["parameter", "type", "default", "meaning"], rows)


def field_docstrings(cls: type) -> dict[str, str]:
    """``field -> docstring`` of a dataclass whose fields carry a string literal after them."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:] + [None]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        return f"`{field.default!r}`"
    if field.default_factory is not dataclasses.MISSING:
        return f"`{field.default_factory()!r}`"
    return "required"


def _fields_table(cls: type, key=lambda name: name, skip: tuple[str, ...] = (), defaults=None) -> str:
    docs = field_docstrings(cls)
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    rows = []
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        if field.name not in docs:
            raise DocsError(f"{cls.__name__}.{field.name} has no docstring")
        default = (defaults or {}).get(field.name) or _default(field)
        rows.append([f"`{key(field.name)}`", f"`{hints[field.name]}`", default, docs[field.name]])
    return _table(["key", "type", "default", "meaning"], rows)


#: How the flat ``TrainConfig`` fields are spelt in the YAML file.
TRAIN_YAML_KEYS = {
    "model": "model.name",
    "model_options": "model.options",
    "loss": "loss.name",
    "loss_options": "loss.options",
    "weights": "loss.weights",
    "optimizer": "optimizer.name",
    "lr": "optimizer.lr",
}


def train_config() -> str:
    """Table of every key of a training configuration file."""
    from ase_nnxc.train.config import TrainConfig

    return _fields_table(
        TrainConfig,
        key=lambda name: TRAIN_YAML_KEYS.get(name, name),
        skip=("source",),
        defaults={"output": "`runs/<config file name>` in the current directory"},
    )


def scf_config() -> str:
    """Table of every key of ``scf:`` (the fields of :class:`~ase_nnxc.scf.SCFConfig`)."""
    from ase_nnxc.scf.config import SCFConfig

    return _fields_table(SCFConfig, key=lambda name: f"scf.{name}")


def dataset_format() -> str:
    """Tables of the keys of a dataset entry and of each of its systems."""
    from ase_nnxc.train.dataset import Entry, SystemSpec

    # The reader's defaults where they differ from the dataclasses' (ase_nnxc.train.dataset).
    entry_defaults = {"true_val": "required; `0` for `force` (an equilibrium geometry)", "name": "`<e_type>-<index>`"}
    return (
        "Entry keys:\n\n"
        + _fields_table(Entry, defaults=entry_defaults)
        + "\n\nKeys of each item of `systems`:\n\n"
        + _fields_table(SystemSpec, defaults={"basis": "`'def2-svp'`"})
    )


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _option_rows(parser: argparse.ArgumentParser) -> list[list[str]]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            metavar = "" if action.nargs == 0 else " " + (action.metavar or action.dest.upper())
            name = ", ".join(f"`{flag}{metavar}`" for flag in action.option_strings)
        else:
            name = f"`{action.metavar or action.dest}`"
        default = "" if action.default in (None, False, argparse.SUPPRESS) or not action.option_strings else f"`{action.default}`"
        rows.append([name, default, formatter._expand_help(action) if action.help else ""])
    return rows


def cli_reference() -> str:
    """Every ``nnxc`` subcommand: its description, usage and options, from the command's own parser."""
    import os

    from ase_nnxc.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; the page should not depend on it
    parser = build_parser()
    parts = ["```text\n" + parser.format_help().strip() + "\n```"]
    for name, sub in _subcommands(parser).items():
        parts.append(f"## `nnxc {name}`")
        parts.append("```text\n" + (sub.description or "").strip() + "\n```")
        parts.append("```text\n" + sub.format_usage().strip() + "\n```")
        parts.append(_table(["option", "default", "meaning"], _option_rows(sub)))
    return "\n\n".join(parts)


def shipped_functionals() -> str:
    """Table of the shipped functionals and aliases of ``models/index.json``."""
    index = json.loads((ROOT / "src" / "ase_nnxc" / "models" / "index.json").read_text())
    aliases = {target: alias for alias, target in index["aliases"].items()}
    rows = [
        [f"`{name}`" + (f" (alias `{aliases[name]}`)" if name in aliases else ""), record["description"],
         f"`{record['config']}`", f"`{record['sha256'][:12]}...`"]
        for name, record in index["functionals"].items()
    ]
    return _table(["name", "what it is", "recipe", "SHA-256"], rows)


def version() -> str:
    """The package version."""
    from ase_nnxc import __version__

    return __version__


GENERATORS = {
    "calculator-options": calculator_options,
    "cli": cli_reference,
    "train-config": train_config,
    "scf-config": scf_config,
    "dataset-format": dataset_format,
    "shipped-functionals": shipped_functionals,
    "version": version,
}


def expand(markdown: str, where: str = "page") -> str:
    """``markdown`` with every ``<!-- nnxc:NAME -->`` marker replaced by its generated text."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise DocsError(f"{where}: unknown marker nnxc:{name}; known: {', '.join(GENERATORS)}")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


def on_config(config, **kwargs):
    """Put the package version into the site name."""
    config["site_name"] = f"ase_nnxc {version()}"
    return config


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    """Replace the markers of a page by the generated tables."""
    return expand(markdown, page.file.src_uri)
