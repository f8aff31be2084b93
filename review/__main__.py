"""`python -m review [--synth CMD] [--base REF] [--allow-replace IDS]`: write cdk.out/review/review.md and
index.html and print where they are.

With a base, the base ref is synthesized in a temporary worktree while the head synthesizes (two cores),
unless an earlier review kept its assembly (review/synth_cache.py; a committed head is kept for the next
review), each stack is diffed with the CDK's diff engine, and the exit code is 3 when a retained stage would
replace or delete a stateful resource that ALLOW_REPLACE does not name.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from review import assembly, html_page, markdown, synth_cache
from review.assembly import AssemblyError
from review.base import BaseError, BaseSynth
from review.change_sections import change_sections
from review.changes import LOSING, ChangeSet, DiffError, diff
from review.config_diff import differences, stage_settings
from review.decision import decision
from review.document import Section
from review.model import Review, collect
from review.sections import assembly_sections
from stacks.config import DEFAULTS_KEY, STAGES_KEY, ConfigError

TITLE = "Deployment review"
BLOCKED = 3


def _retained(*cdk_jsons: Path) -> set[str]:
    """Stages with `removal: retain` in the head's or the base's cdk.json (read raw: a base may use settings
    this checkout's config loader no longer knows)."""
    names: set[str] = set()
    for cdk_json in cdk_jsons:
        try:
            context = json.loads(cdk_json.read_text()).get("context", {})
        except (OSError, json.JSONDecodeError):
            continue
        default = context.get(DEFAULTS_KEY, {}).get("removal", "destroy")
        for stage, settings in context.get(STAGES_KEY, {}).items():
            if isinstance(settings, dict) and settings.get("removal", default) == "retain":
                names.add(stage)
    return names


def report_sections(review: Review, changes: ChangeSet | None = None, commit: str = "") -> list[Section]:
    """The whole report: the decision summary, the change (with a base), then the assembly."""
    head = change_sections(changes, commit) if changes is not None else []
    return [decision(review, changes), *head, *assembly_sections(review)]


def write(out: Path, sections: list) -> None:
    """The report as review.md and index.html in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "review.md").write_text(markdown.render(TITLE, sections))
    (out / "index.html").write_text(html_page.render(TITLE, sections))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make review", description=__doc__)
    parser.add_argument(
        "--cdk-out", type=Path, default=Path("cdk.out"), help="the synthesized cloud assembly"
    )
    parser.add_argument(
        "--cdk-json", type=Path, default=Path("cdk.json"), help="the app's stage configuration"
    )
    parser.add_argument("--out", type=Path, help="report directory (default: <cdk-out>/review)")
    parser.add_argument("--synth", help="command that synthesizes the head into --cdk-out first")
    parser.add_argument("--base", help="git ref to review the change against")
    parser.add_argument("--allow-replace", default="", help="logical ids whose replacement is accepted")
    args = parser.parse_args(argv)
    out = args.out or args.cdk_out / "review"
    allowed = set(args.allow_replace.replace(",", " ").split())
    base = None
    try:
        if args.base:
            base = BaseSynth(args.cdk_json.resolve().parent, args.base).start()
            if base.cached is not None:
                print(f"review: base {args.base} ({base.commit[:12]}) from the review cache {base.cached}")
        if args.synth:
            head = subprocess.run(shlex.split(args.synth))
            if head.returncode != 0:
                print(f"review: `{args.synth}` failed (exit {head.returncode})", file=sys.stderr)
                return head.returncode
            root = args.cdk_json.resolve().parent
            synth_cache.store(root, synth_cache.head_key(root), args.cdk_out)
        review = collect(args.cdk_out, lambda: differences(stage_settings(args.cdk_json)))
        changes: ChangeSet | None = None
        if base is not None:
            base_stages = assembly.load(base.wait())
            changes = diff(base_stages, assembly.load(args.cdk_out), args.base)
            changes.retained_stages = _retained(args.cdk_json, base.cdk_json())
            changes.allowed = allowed
        sections = report_sections(review, changes, base.commit if base is not None else "")
    except (AssemblyError, BaseError, ConfigError, DiffError, RuntimeError) as error:
        print(f"review: {error}", file=sys.stderr)
        return 2
    finally:
        if base is not None:
            base.close()
    write(out, sections)
    print(f"review: {out / 'review.md'}\nreview: {out / 'index.html'}")
    if changes is not None and changes.blocking():
        for stack, loss in changes.blocking():
            what, impact = f"{loss['type']} {loss['logicalId']}", LOSING[loss["impact"]]
            print(
                f"review: {stack.stack}: {what} would be {impact} in retained stage {stack.stage} "
                f"(accept with ALLOW_REPLACE={loss['logicalId']})",
                file=sys.stderr,
            )
        return BLOCKED
    return 0


if __name__ == "__main__":
    sys.exit(main())
