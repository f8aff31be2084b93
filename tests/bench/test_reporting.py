"""`make bench` prints; only `make bench-record` (`--record`) writes docs/benchmarks/."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import re

import pytest

from tests.conftest import ROOT

BENCH = ROOT / "bench"


@pytest.fixture
def reporting(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("reporting", BENCH / "reporting.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "DOCS", tmp_path / "docs" / "benchmarks")
    return module


def parsed(reporting, *argv):
    parser = argparse.ArgumentParser()
    reporting.add_arguments(parser, "synth")
    return parser.parse_args(list(argv))


def test_without_record_the_report_is_printed_and_nothing_is_written(reporting, capsys, tmp_path):
    reporting.emit("| a | b |", parsed(reporting))

    assert capsys.readouterr().out == "| a | b |\n"
    assert list(tmp_path.rglob("*")) == []


def test_record_writes_the_benchmarks_own_page(reporting, capsys):
    reporting.emit("| a | b |", parsed(reporting, "--record"))

    assert (reporting.DOCS / "synth.md").read_text() == "| a | b |\n"
    assert "wrote" in capsys.readouterr().out


def test_output_writes_the_named_file(reporting, tmp_path):
    reporting.emit("x", parsed(reporting, "--output", str(tmp_path / "elsewhere.md")))

    assert (tmp_path / "elsewhere.md").read_text() == "x\n"
    assert not reporting.DOCS.exists()


@pytest.mark.parametrize("bench", sorted(BENCH.glob("bench_*.py")), ids=lambda path: path.name)
def test_no_bench_writes_a_file_except_through_reporting(bench):
    calls = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(ast.parse(bench.read_text()))
        if isinstance(node, ast.Call)
    }
    assert not calls & {"write_text", "write_bytes"}
    assert not re.search(r"open\([^)]*['\"][wa]b?['\"]", bench.read_text())


def test_every_recorded_bench_has_a_page_and_make_bench_runs_every_bench():
    makefile = (ROOT / "Makefile").read_text()
    recorded = re.search(r"^RECORDED_BENCHES := (.*)$", makefile, re.M).group(1).split()
    others = re.search(r"^BENCHES := \$\(RECORDED_BENCHES\) (.*)$", makefile, re.M)[1].split()
    listed = set(recorded) | set(others)
    assert listed == {f"bench/{path.name}" for path in BENCH.glob("bench_*.py")}
    for bench in recorded:
        name = re.search(r'reporting\.add_arguments\(parser, "(\w+)"\)', (ROOT / bench).read_text())[1]
        assert (ROOT / "docs" / "benchmarks" / f"{name}.md").exists(), bench
