"""Renders the document model as GitHub-flavoured Markdown (also the CI job summary)."""

from __future__ import annotations

import html

from review.document import Block, Cell, Code, Figure, Flag, Items, Paragraph, Section, Table


def _text(value: str | Flag) -> str:
    if isinstance(value, Flag):
        return f"⚠️ **{escape(value.text)}**"
    return escape(value)


# `*` would start emphasis (IAM wildcards are everywhere), `|` ends a table cell, `<` starts HTML.
ESCAPES = str.maketrans({"*": "\\*", "|": "\\|", "\n": " ", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    return text.translate(ESCAPES)


def _cell(cell: Cell) -> str:
    return "<br>".join(_text(value) for value in cell) if isinstance(cell, list) else _text(cell)


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(table.headers) + " |", "|" + "---|" * len(table.headers)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in table.rows]
    return lines


def _block(block: Block) -> list[str]:
    if isinstance(block, Table):
        return _table(block) if block.rows else ["(none)"]
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, Code):
        return ["```", block.text, "```"]
    if isinstance(block, Items):
        return [f"- {_cell(item)}" for item in block.items]
    if isinstance(block, Figure):
        return ["```", block.alt, "```"]
    # GitHub renders <details> in Markdown too; the blank lines let the Markdown inside it render.
    inner = [line for child in block.blocks for line in [*_block(child), ""]]
    return [f"<details><summary>{html.escape(block.summary)}</summary>", "", *inner, "</details>"]


def _section(section: Section, level: int) -> list[str]:
    lines = [f"{'#' * level} {section.title}", ""]
    for block in section.blocks:
        lines += [*_block(block), ""]
    for child in section.children:
        lines += _section(child, level + 1)
    return lines


def render(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += _section(section, 2)
    return "\n".join(lines).rstrip() + "\n"
