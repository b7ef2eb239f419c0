"""Griffe extension for the API reference: show the reST parts of our docstrings as Markdown.

The docstrings are NumPy style with a few reST constructs that read well in ``help()``:
cross-reference roles (``:func:`name```) and ``.. math::`` directives. For the MkDocs site
this extension rewrites, in memory only,

* ``:func:`x```, ``:class:`x```, ``:mod:`x```, ``:meth:`x```, ``:data:`x```, ``:attr:`x```
  into the code span ``x``;
* a ``.. math::`` directive (formula on the same line and/or on indented lines below it) into
  ``$$ … $$`` blocks typeset by MathJax (one block per blank-line-separated formula; indented
  to the multiple of 4 spaces at or below the directive's, since a Markdown list item
  continues only at 4);
* a reST simple table (``=====  =====`` borders) into a preformatted text block.

Loaded by mkdocstrings through ``extensions: [docs/griffe_rst.py]`` in ``mkdocs.yml``.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|obj|exc):`~?([^`]+)`")
_TABLE_BORDER = re.compile(r"^ *=+( +=+)+ *$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _math_blocks(lines: list[str], indent: str) -> list[str]:
    out: list[str] = []
    formula: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            formula.append(line.strip())
        elif formula:
            out += [indent + "$$", *(indent + f for f in formula), indent + "$$", ""]
            formula = []
    return out


def rst_to_markdown(text: str) -> str:
    """Rewrite reST roles and ``.. math::`` directives of one docstring (see module doc)."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    lines = text.split("\n")
    out: list[str] = []
    k = 0
    while k < len(lines):
        line = lines[k]
        stripped = line.lstrip(" ")
        if _TABLE_BORDER.match(line):  # simple table: header border, header, border, rows, border
            borders, start = 0, k
            while k < len(lines) and borders < 3:
                borders += bool(_TABLE_BORDER.match(lines[k]))
                k += 1
            pad = " " * _indent(line)
            out += [pad + "```text", *lines[start:k], pad + "```"]
            continue
        if not stripped.startswith(".. math::"):
            out.append(line)
            k += 1
            continue
        base = _indent(line)
        body = [stripped[len(".. math::") :]]
        k += 1
        while k < len(lines) and (not lines[k].strip() or _indent(lines[k]) > base):
            body.append(lines[k])
            k += 1
        # keep a trailing blank line outside the math block
        while body and not body[-1].strip():
            body.pop()
        if out and out[-1].strip():
            out.append("")
        # Markdown continues a list item only at 4 spaces: a formula indented 2 under a reST
        # bullet would become a paragraph with literal $$, so it goes to the enclosing level
        out += _math_blocks(body, " " * (base - base % 4))
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Apply :func:`rst_to_markdown` to every docstring once the object tree is built."""

    def on_object(self, *, obj, **kwargs) -> None:  # noqa: ARG002 - griffe's hook signature
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
