"""Griffe extension for the API reference: the reST habits of the docstrings, read as Markdown.

The docstrings are NumPy style with a few reStructuredText idioms (ruff checks the style,
``help()`` shows them as they are). Rendered as Markdown they need three rewrites, done here
on a copy when the site is built:

* Sphinx roles, ``:class:`~ase_nnxc.xc.base.XCFunctional``` -> `XCFunctional`;
* doctest paragraphs (lines starting with ``>>>``) -> fenced ``pycon`` code;
* a paragraph ending in ``::`` (reST's literal block) ends in ``:``, the indented block after it
  being a Markdown code block already;
* a default written as code, ``default ``"pbe"````, loses its backticks (the table shows it as code).
"""

from __future__ import annotations

import re

from griffe import Extension

ROLE_SHORT = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`~([^`]+)`")
ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`([^`]+)`")


def to_markdown(text: str) -> str:
    """``text`` (a docstring) with roles, doctest paragraphs and ``::`` rewritten for Markdown."""
    text = ROLE_SHORT.sub(lambda m: f"``{m.group(1).split('.')[-1]}``", text)
    text = ROLE.sub(r"``\1``", text)
    # "x : str, default ``"pbe"``": the default is a Python literal, rendered as code anyway
    text = re.sub(r"(, default) ``([^`]+)``", r"\1 \2", text)
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith(">>>"):
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].strip())
                i += 1
            if out and out[-1].strip():
                out.append("")
            out += [indent + "```pycon", *(indent + line for line in block), indent + "```"]
            continue
        line = lines[i]
        if line.rstrip().endswith("::") and not line.strip() == "::":
            line = line.rstrip()[:-1]
        out.append(line)
        i += 1
    return "\n".join(out)


class ReSTToMarkdown(Extension):
    """Rewrite every docstring with :func:`to_markdown` before it is rendered."""

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
