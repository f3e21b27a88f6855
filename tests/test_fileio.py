"""Atomic writes: files through a temporary file, directories through a two-rename swap."""

from pathlib import Path

import pytest

from modelspec import fileio


def _tree(path: Path) -> dict:
    return {p.name: p.read_text() for p in sorted(path.iterdir())}


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "state.json"
    fileio.atomic_write_text(target, "one")
    fileio.atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_replace_dir_swaps_and_removes_the_old_directory(tmp_path):
    final, new = tmp_path / "best", tmp_path / ".best-1.tmp"
    final.mkdir()
    (final / "w.h5").write_text("old")
    new.mkdir()
    (new / "w.h5").write_text("new")
    assert fileio.replace_dir(new, final) == final
    assert _tree(final) == {"w.h5": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
    fresh = tmp_path / ".final.tmp"
    fresh.mkdir()
    (fresh / "w.h5").write_text("first")
    fileio.replace_dir(fresh, tmp_path / "final")
    assert _tree(tmp_path / "final") == {"w.h5": "first"}


def test_restore_dir_undoes_a_swap_cut_between_its_renames(tmp_path, monkeypatch):
    final, new = tmp_path / "best", tmp_path / ".best-2.tmp"
    for directory, text in ((final, "old"), (new, "new")):
        directory.mkdir()
        (directory / "w.h5").write_text(text)
    calls = []
    real_replace = fileio.os.replace

    def killed_after_first_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies between the two renames
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", killed_after_first_rename)
    with pytest.raises(KeyboardInterrupt):
        fileio.replace_dir(new, final)
    monkeypatch.setattr(fileio.os, "replace", real_replace)
    assert not final.exists() and (tmp_path / ".best.old").is_dir()
    assert fileio.restore_dir(final) is True
    assert _tree(final) == {"w.h5": "old"}          # the last complete version is back
    assert fileio.restore_dir(final) is False         # nothing to do when it is in place


def test_leftover_temp_files_are_removed_and_files_get_the_umask(tmp_path):
    """Finding 13 of issue 15: `.history.json.*.tmp` stayed forever; files were 0600."""
    import os

    from modelspec.fileio import atomic_write_text, remove_leftovers
    (tmp_path / ".history.json.ab12.tmp").write_text("{")
    (tmp_path / ".epoch-0001-x.tmp").mkdir()
    (tmp_path / "keep.json").write_text("{}")
    removed = remove_leftovers(tmp_path)
    assert sorted(p.name for p in removed) == [".epoch-0001-x.tmp", ".history.json.ab12.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "state.json", "{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
