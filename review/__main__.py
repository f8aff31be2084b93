"""`python -m review [--base REF]`: write cdk.out/review/review.md and index.html and print where they are."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from review import html_page, markdown
from review.assembly import AssemblyError
from review.config_diff import differences, stage_settings
from review.model import collect
from review.sections import assembly_sections
from stacks.config import ConfigError

TITLE = "Deployment review"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make review", description=__doc__)
    parser.add_argument(
        "--cdk-out", type=Path, default=Path("cdk.out"), help="the synthesized cloud assembly"
    )
    parser.add_argument(
        "--cdk-json", type=Path, default=Path("cdk.json"), help="the app's stage configuration"
    )
    parser.add_argument("--out", type=Path, help="report directory (default: <cdk-out>/review)")
    args = parser.parse_args(argv)
    out = args.out or args.cdk_out / "review"
    try:
        review = collect(args.cdk_out, lambda: differences(stage_settings(args.cdk_json)))
    except (AssemblyError, ConfigError, RuntimeError) as error:
        print(f"review: {error}", file=sys.stderr)
        return 2
    sections = assembly_sections(review)
    out.mkdir(parents=True, exist_ok=True)
    (out / "review.md").write_text(markdown.render(TITLE, sections))
    (out / "index.html").write_text(html_page.render(TITLE, sections))
    print(f"review: {out / 'review.md'}\nreview: {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
