"""`make bench` prints; only `make bench-record` (`--record`) writes docs/benchmarks/."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import re
import subprocess
import sys

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
    others = re.search(r"^BENCHES := \$\(RECORDED_BENCHES\) ((?:.*\\\n)*.*)$", makefile, re.M)[1]
    others = others.replace("\\\n", " ").split()  # a continued line is one list
    listed = set(recorded) | set(others)
    assert listed == {f"bench/{path.name}" for path in BENCH.glob("bench_*.py")}
    for bench in recorded:
        name = re.search(r'reporting\.add_arguments\(parser, "(\w+)"\)', (ROOT / bench).read_text())[1]
        assert (ROOT / "docs" / "benchmarks" / f"{name}.md").exists(), bench


def test_a_missed_goal_is_named_and_makes_the_exit_status(reporting, capsys):
    assert reporting.verdict(True, "fast start") == "meets goal"
    assert reporting.status() == 0
    assert reporting.verdict(False, "small image") == "MISSES goal"
    assert reporting.status() == reporting.GOAL_MISSED == 3
    assert capsys.readouterr().err == "goals missed: small image\n"


@pytest.mark.parametrize("bench", sorted(BENCH.glob("bench_*.py")), ids=lambda path: path.name)
def test_every_bench_gives_each_goal_a_verdict_and_exits_with_the_status(bench):
    source = bench.read_text()
    assert "reporting.verdict(" in source
    assert not re.search(r"meets (the )?goal|MISSES goal|over (the )?goal", source)  # only reporting says it
    assert "return reporting.status()" in source and "sys.exit(main())" in source


def fake_bench(tmp_path, name, status):
    path = tmp_path / f"{name}.py"
    path.write_text(f"import sys\nprint('{name} ran')\nsys.exit({status})\n")
    return str(path)


def make_bench(tmp_path, *benches, explore=False):
    command = ["make", "--no-print-directory", "bench", f"BENCHES={' '.join(benches)}"]
    result = subprocess.run(
        command + (["EXPLORE=1"] if explore else []), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return result.returncode, result.stdout


def test_make_bench_runs_every_bench_then_fails_on_a_missed_goal_unless_exploring(tmp_path):
    missed, met = fake_bench(tmp_path, "missed", 3), fake_bench(tmp_path, "met", 0)
    status, out = make_bench(tmp_path, missed, met)
    assert status != 0
    assert "met ran" in out and f"goals missed by: {missed}" in out
    status, out = make_bench(tmp_path, missed, met, explore=True)
    assert status == 0 and "met ran" in out and "(EXPLORE=1: not a failure)" in out
    assert make_bench(tmp_path, met)[0] == 0


def test_make_bench_stops_at_a_bench_that_fails_even_when_exploring(tmp_path):
    crashed, met = fake_bench(tmp_path, "crashed", 1), fake_bench(tmp_path, "met", 0)
    status, out = make_bench(tmp_path, crashed, met, explore=True)
    assert status != 0 and "met ran" not in out


def test_the_suite_goal_is_every_core_busy_plus_a_quarter():
    spec = importlib.util.spec_from_file_location("bench_suite", BENCH / "bench_suite.py")
    sys.path.insert(0, str(BENCH))  # the bench imports reporting as `make bench` runs it
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    assert module.wall_bound(cpu=100.0, cores=2) == 62.5
    assert module.COMMAND[1:] == ["-m", "pytest", "-q", "-n", "auto"]
    assert "$(PY) -m pytest -q -n auto" in (ROOT / "Makefile").read_text()  # what `make test` runs
