"""Renders the document model as one self-contained HTML page: inline CSS and SVG, no script, no network."""

from __future__ import annotations

from html import escape

from review.document import Block, Cell, Code, Figure, Flag, Items, Paragraph, Section, Table

# No script, no fetch: the page cannot reach a network even if a value in it tried to.
CSP = "default-src 'none'; style-src 'unsafe-inline'"
# Wrapped, never wider than the window: a cell with a long word (an ARN, a logical id) breaks it anywhere
# (`overflow-wrap: anywhere` also lets the table layout shrink that column), other cells keep their words
# whole (a short column is not squeezed to "broaden/s"); a table with widths has them (`table-layout:
# fixed`); raw diffs wrap inside their folds; diagrams scale down.
LONG_WORD = 20
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;display:flex;color:#1b1b1b}
nav{position:sticky;top:0;height:100vh;overflow:auto;flex:0 0 230px;background:#f4f6f8;padding:12px;
box-sizing:border-box;font-size:13px}
nav a{display:block;color:#1d4f91;text-decoration:none;padding:1px 0}nav .l3{padding-left:12px}
main{padding:0 24px 40px;flex:1 1 auto;min-width:0;max-width:1400px}
table{border-collapse:collapse;margin:6px 0 14px;max-width:100%}table.fixed{table-layout:fixed;width:100%}
th,td{border:1px solid #ccd3db;padding:3px 7px;vertical-align:top;text-align:left;overflow-wrap:break-word}
td.long{overflow-wrap:anywhere}th{background:#e8edf2}
code,pre{font:12px ui-monospace,monospace}
pre{background:#f6f8fa;padding:8px;margin:4px 0;white-space:pre-wrap;overflow-wrap:anywhere}
details{margin:4px 0}summary{cursor:pointer;color:#1d4f91}
#decision{border:2px solid #1d4f91;border-radius:6px;padding:2px 16px;margin:8px 0 16px}
#decision h2{margin:8px 0 4px}#decision ul{margin:4px 0 10px;padding-left:20px}
.flag{color:#b00020;font-weight:bold}.flag::before{content:"\\26A0\\FE0F  "}
svg.diagram{font-family:system-ui,sans-serif;font-size:12px;max-width:100%;height:auto}
"""


def _value(value: str | Flag) -> str:
    if isinstance(value, Flag):
        return f'<span class="flag">{escape(value.text)}</span>'
    return escape(value)


def _cell(cell: Cell) -> str:
    return "<br>".join(_value(v) for v in cell) if isinstance(cell, list) else _value(cell)


def _td(cell: Cell) -> str:
    """A cell; one holding a long word (an ARN, a logical id) may break it anywhere, others keep words."""
    texts = [v.text if isinstance(v, Flag) else v for v in (cell if isinstance(cell, list) else [cell])]
    long = any(len(word) > LONG_WORD for text in texts for word in text.split())
    return f'<td class="long">{_cell(cell)}</td>' if long else f"<td>{_cell(cell)}</td>"


def _table(table: Table) -> str:
    if not table.rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in table.rows)
    if table.widths is None:
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    columns = "".join(f'<col style="width:{width}%">' for width in table.widths)
    return (
        f'<table class="fixed"><colgroup>{columns}</colgroup><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _block(block: Block) -> str:
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Code):
        return f"<pre>{escape(block.text)}</pre>"
    if isinstance(block, Items):
        return "<ul>" + "".join(f"<li>{_cell(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Figure):
        return f"<figure>{block.svg}</figure>"
    inner = "".join(_block(child) for child in block.blocks)
    return f"<details><summary>{escape(block.summary)}</summary>{inner}</details>"


def _section(section: Section, level: int) -> str:
    parts = [f'<section id="{escape(section.anchor)}"><h{level}>{escape(section.title)}</h{level}>']
    parts += [_block(block) for block in section.blocks]
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
