"""Renders the document model as GitHub-flavoured Markdown (also the CI job summary)."""

from __future__ import annotations

from review.document import Cell, Code, Figure, Flag, Paragraph, Section, Table


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


def _section(section: Section, level: int) -> list[str]:
    lines = [f"{'#' * level} {section.title}", ""]
    for block in section.blocks:
        if isinstance(block, Table):
            lines += _table(block) if block.rows else ["(none)"]
        elif isinstance(block, Paragraph):
            lines.append(block.text)
        elif isinstance(block, Code):
            lines += ["```", block.text, "```"]
        elif isinstance(block, Figure):
            lines += ["```", block.alt, "```"]
        lines.append("")
    for child in section.children:
        lines += _section(child, level + 1)
    return lines


def render(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += _section(section, 2)
    return "\n".join(lines).rstrip() + "\n"
