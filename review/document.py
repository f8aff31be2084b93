"""A tiny document model (sections, tables, paragraphs) rendered to both Markdown and HTML, so the two
reports always hold the same content."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Flag:
    """Text a reviewer must notice (a wildcard, a replacement): bold with a warning sign, red in HTML."""

    text: str


Cell = str | Flag | list[str | Flag]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    widths: list[int] | None = None  # column widths in percent (HTML), for a wide table of long values


@dataclass
class Paragraph:
    text: str


@dataclass
class Code:
    text: str


@dataclass
class Items:
    """A bulleted list (the decision summary)."""

    items: list[Cell]


@dataclass
class Figure:
    """An inline SVG for the HTML page; the Markdown shows `alt` as a code block instead."""

    svg: str
    alt: str


@dataclass
class Details:
    """Blocks folded under a one-line summary (`<details>`): what a reviewer opens only when needed."""

    summary: str
    blocks: list[Block]


Block = Table | Paragraph | Code | Items | Figure | Details


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
