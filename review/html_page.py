"""Renders the document model as one self-contained HTML page: inline CSS and SVG, no script, no network."""

from __future__ import annotations

from html import escape

from review.document import Cell, Code, Figure, Flag, Paragraph, Section, Table

# No script, no fetch: the page cannot reach a network even if a value in it tried to.
CSP = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;display:flex;color:#1b1b1b}
nav{position:sticky;top:0;height:100vh;overflow:auto;min-width:230px;background:#f4f6f8;padding:12px;
box-sizing:border-box;font-size:13px}
nav a{display:block;color:#1d4f91;text-decoration:none;padding:1px 0}nav .l3{padding-left:12px}
main{padding:0 24px 40px;max-width:1400px;overflow-x:auto}
table{border-collapse:collapse;margin:6px 0 14px}th,td{border:1px solid #ccd3db;padding:3px 7px;
vertical-align:top;text-align:left}th{background:#e8edf2}code,pre{font:12px ui-monospace,monospace}
pre{background:#f6f8fa;padding:8px;overflow:auto}.flag{color:#b00020;font-weight:bold}
.flag::before{content:"\\26A0\\FE0F  "}svg.diagram{font-family:system-ui,sans-serif;font-size:12px}
"""


def _value(value: str | Flag) -> str:
    if isinstance(value, Flag):
        return f'<span class="flag">{escape(value.text)}</span>'
    return escape(value)


def _cell(cell: Cell) -> str:
    return "<br>".join(_value(v) for v in cell) if isinstance(cell, list) else _value(cell)


def _table(table: Table) -> str:
    if not table.rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(section: Section, level: int) -> str:
    parts = [f'<section id="{escape(section.anchor)}"><h{level}>{escape(section.title)}</h{level}>']
    for block in section.blocks:
        if isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{escape(block.text)}</p>")
        elif isinstance(block, Code):
            parts.append(f"<pre>{escape(block.text)}</pre>")
        elif isinstance(block, Figure):
            parts.append(f"<figure>{block.svg}</figure>")
    parts += [_section(child, min(level + 1, 6)) for child in section.children]
    parts.append("</section>")
    return "".join(parts)


def _nav(sections: list[Section]) -> str:
    links = []
    for section in sections:
        links.append(f'<a href="#{escape(section.anchor)}">{escape(section.title)}</a>')
        links += [
            f'<a class="l3" href="#{escape(child.anchor)}">{escape(child.title)}</a>'
            for child in section.children
        ]
    return "<nav>" + "".join(links) + "</nav>"


def render(title: str, sections: list[Section]) -> str:
    body = "".join(_section(section, 2) for section in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{_nav(sections)}"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>\n"
    )
