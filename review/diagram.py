"""A stage's stacks as a graph: deploy order (layers by dependency depth) as self-contained SVG and as text.

Hand-made rather than a diagram library: the page must render with no network, and the stack graph is small.
"""

from __future__ import annotations

from html import escape

from review.model import StackSummary

BOX_W, BOX_H, GAP_X, GAP_Y, LINES = 250, 96, 60, 24, 4


def _layers(stacks: list[StackSummary]) -> dict[str, int]:
    ids = {stack.id for stack in stacks}
    deps = {stack.id: [d for d in stack.dependencies if d in ids] for stack in stacks}
    depth: dict[str, int] = {}

    def visit(node: str, seen: frozenset[str] = frozenset()) -> int:
        if node not in depth:
            parents = [p for p in deps[node] if p not in seen]
            depth[node] = 1 + max((visit(p, seen | {node}) for p in parents), default=-1)
        return depth[node]

    for stack in stacks:
        visit(stack.id)
    return depth


def _highlights(stack: StackSummary) -> list[str]:
    """The resource types that say what the stack is, most specific first (AgentCore, then the rest)."""
    ordered = sorted(
        stack.types.items(), key=lambda item: ("BedrockAgentCore" not in item[0], -item[1], item[0])
    )
    short = {kind: kind.split("::", 1)[-1].replace("BedrockAgentCore::", "AgentCore ") for kind, _ in ordered}
    return [f"{short[kind]} x{count}" for kind, count in ordered[:LINES]]


def svg(stacks: list[StackSummary]) -> str:
    depth = _layers(stacks)
    columns: dict[int, list[StackSummary]] = {}
    for stack in stacks:
        columns.setdefault(depth[stack.id], []).append(stack)
    position = {
        stack.id: (col * (BOX_W + GAP_X) + 10, row * (BOX_H + GAP_Y) + 10)
        for col, members in columns.items()
        for row, stack in enumerate(members)
    }
    width = (max(columns, default=0) + 1) * (BOX_W + GAP_X) - GAP_X + 20
    height = max((len(m) for m in columns.values()), default=1) * (BOX_H + GAP_Y) - GAP_Y + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="stacks and their deploy order">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    for stack in stacks:
        x2, y2 = position[stack.id]
        for dependency in stack.dependencies:
            if dependency in position:
                x1, y1 = position[dependency]
                parts.append(
                    f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H / 2}" x2="{x2}" y2="{y2 + BOX_H / 2}" '
                    'stroke="#555" marker-end="url(#arrow)"/>'
                )
    for stack in stacks:
        x, y = position[stack.id]
        parts.append(
            f'<g><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#eef4fb" '
            'stroke="#2a6bb0"/>'
            f'<text x="{x + 8}" y="{y + 18}" font-weight="bold">{escape(stack.name)} '
            f"({stack.resource_count})</text>"
        )
        for line, text in enumerate(_highlights(stack)):
            parts.append(f'<text x="{x + 8}" y="{y + 36 + line * 15}" font-size="11">{escape(text)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def text(stacks: list[StackSummary]) -> list[str]:
    """One line per stack: `name (n resources) <- what it deploys after`."""
    names = {stack.id: stack.name for stack in stacks}
    lines = []
    for stack in sorted(stacks, key=lambda s: (_layers(stacks)[s.id], s.name)):
        after = ", ".join(names[d] for d in stack.dependencies if d in names)
        lines.append(
            f"{stack.name} ({stack.resource_count} resources)" + (f" ← after {after}" if after else "")
        )
    return lines
