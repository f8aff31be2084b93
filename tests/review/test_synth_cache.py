"""The review cache: keyed by every synthesis input at a commit, never by what does not shape the assembly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from review import synth_cache


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    (repo / "app.py").write_text("print('app')\n")
    (repo / "stacks" / "one.py").write_text("ONE = 1\n")
    (repo / "README.md").write_text("readme\n")
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "base")
    return repo


def _assembly(path: Path) -> Path:
    (path / "assembly-prod").mkdir(parents=True)
    (path / "manifest.json").write_text("{}")
    (path / "assembly-prod" / "prod-Memory.template.json").write_text('{"Resources": {}}')
    (path / "asset.0123").mkdir()
    (path / "asset.0123" / "big.bin").write_bytes(b"x" * 1000)
    (path / "review").mkdir()
    (path / "review" / "review.md").write_text("old report")
    return path


def test_an_input_change_is_a_new_key_and_a_docs_change_is_not(repo):
    base = synth_cache.key(repo, "HEAD")
    (repo / "README.md").write_text("more readme\n")
    _commit(repo, "docs")
    assert synth_cache.key(repo, "HEAD") == base
    (repo / "stacks" / "one.py").write_text("ONE = 2\n")
    _commit(repo, "code")
    assert synth_cache.key(repo, "HEAD") != base
    (repo / "stacks" / "two.py").write_text("TWO = 2\n")
    _commit(repo, "new file")
    assert len({base, synth_cache.key(repo, "HEAD~1"), synth_cache.key(repo, "HEAD")}) == 3


def test_the_key_follows_the_target_environment(repo, monkeypatch):
    base = synth_cache.key(repo, "HEAD")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    assert synth_cache.key(repo, "HEAD") != base


def test_a_head_with_uncommitted_input_changes_has_no_key(repo):
    assert synth_cache.head_key(repo) == synth_cache.key(repo, "HEAD")
    (repo / "README.md").write_text("edited\n")
    assert synth_cache.head_key(repo) is not None  # not an input
    (repo / "stacks" / "new.py").write_text("NEW = 1\n")  # untracked input
    assert synth_cache.head_key(repo) is None
    (repo / "stacks" / "new.py").unlink()
    (repo / "app.py").write_text("print('edited')\n")
    assert synth_cache.head_key(repo) is None


def test_a_kept_assembly_is_found_without_assets_or_old_reports(repo, tmp_path):
    key = synth_cache.key(repo, "HEAD")
    assert synth_cache.lookup(repo, key) is None
    synth_cache.store(repo, key, _assembly(tmp_path / "cdk.out"))
    kept = synth_cache.lookup(repo, key)
    assert kept is not None and kept.is_relative_to(repo / ".git")
    assert (kept / "assembly-prod" / "prod-Memory.template.json").read_text() == '{"Resources": {}}'
    assert not (kept / "asset.0123").exists() and not (kept / "review").exists()


def test_a_directory_that_is_no_assembly_is_not_kept(repo, tmp_path):
    key = synth_cache.key(repo, "HEAD")
    (tmp_path / "empty").mkdir()
    synth_cache.store(repo, key, tmp_path / "empty")
    assert synth_cache.lookup(repo, key) is None


def test_only_the_newest_entries_are_kept(repo, tmp_path):
    keys = []
    for index in range(synth_cache.KEPT + 2):
        (repo / "app.py").write_text(f"print({index})\n")
        _commit(repo, f"c{index}")
        keys.append(synth_cache.key(repo, "HEAD"))
        synth_cache.store(repo, keys[-1], _assembly(tmp_path / f"out{index}"))
    kept = [key for key in keys if synth_cache.lookup(repo, key) is not None]
    assert kept == keys[-synth_cache.KEPT :]


def test_outside_git_nothing_is_kept(tmp_path):
    assert synth_cache.key(tmp_path, "HEAD") is None
    synth_cache.store(tmp_path, None, _assembly(tmp_path / "cdk.out"))
    assert synth_cache.lookup(tmp_path, None) is None
