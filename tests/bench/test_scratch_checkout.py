"""bench/scratch_checkout.py: `make bench` synthesizes, reviews and clears caches in a copy, never here."""

from __future__ import annotations

import importlib.util
import os
import subprocess

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("scratch_checkout", ROOT / "bench" / "scratch_checkout.py")
assert spec and spec.loader
scratch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scratch)


def git(root, *args):
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def test_the_copy_has_the_working_tree_its_own_git_directory_and_the_linked_venv(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet")
    (repo / ".gitignore").write_text("cdk.out/\n.venv\n")  # as the repository's own
    (repo / "app.py").write_text("committed\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "c")
    (repo / "app.py").write_text("edited, not committed\n")
    os.utime(repo / "app.py", (1_000_000_000, 1_000_000_000))
    (repo / "new.py").write_text("untracked\n")
    (repo / "cdk.out").mkdir()
    (repo / "cdk.out" / "manifest.json").write_text("{}")
    (repo / ".venv").mkdir()
    with scratch.scratch_checkout(repo) as copy:
        assert (copy / "app.py").read_text() == "edited, not committed\n"
        assert (copy / "app.py").stat().st_mtime == 1_000_000_000  # make sees what it saw here
        assert (copy / "new.py").exists() and not (copy / "cdk.out").exists()
        assert (copy / ".venv").resolve() == (repo / ".venv").resolve()
        assert git(copy, "status", "--porcelain") == git(repo, "status", "--porcelain")
        common = ("rev-parse", "--path-format=absolute", "--git-common-dir")
        assert git(copy, *common) != git(repo, *common)  # the review caches live there
        (copy / "app.py").write_text("touched by a bench\n")
    assert (repo / "app.py").read_text() == "edited, not committed\n"
    assert (repo / "cdk.out" / "manifest.json").read_text() == "{}"
    assert not copy.exists()


def test_bench_review_works_in_the_scratch_copy_only():
    source = (ROOT / "bench" / "bench_review.py").read_text()
    assert "with scratch_checkout(REPO) as root:" in source
    assert "cwd=REPO" not in source and "clear(REPO)" not in source and 'REPO / "app.py"' not in source
