"""Tests for ember.code.merge: a function's layers merged into one /opt folder as Lambda extracts them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ember.code.merge import merge_layers, merged_layers_dir

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="hard links and symlinks")


def layer(root: Path, digest: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        path = root / digest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return digest


def test_later_layers_override_earlier_ones_and_the_rest_is_kept(tmp_path: Path) -> None:
    first = layer(tmp_path, "a" * 64, {"python/shared.py": "first", "python/only_first.py": "1"})
    second = layer(tmp_path, "b" * 64, {"python/shared.py": "second", "bin/tool": "2"})

    merged = merge_layers(tmp_path, [first, second])

    assert merged == merged_layers_dir(tmp_path, [first, second])
    assert (merged / "python/shared.py").read_text() == "second"
    assert (merged / "python/only_first.py").read_text() == "1"
    assert (merged / "bin/tool").read_text() == "2"
    # Hard links, not copies: a merge costs no space of its own.
    assert os.path.samefile(merged / "bin/tool", tmp_path / second / "bin/tool")


def test_a_later_file_replaces_an_earlier_folder_and_a_later_folder_an_earlier_file(tmp_path: Path) -> None:
    first = layer(tmp_path, "a" * 64, {"lib/thing/inner.py": "folder", "etc": "file"})
    second = layer(tmp_path, "b" * 64, {"lib/thing": "now a file", "etc/conf": "now a folder"})

    merged = merge_layers(tmp_path, [first, second])

    assert (merged / "lib/thing").read_text() == "now a file"
    assert (merged / "etc/conf").read_text() == "now a folder"


def test_symlinks_are_kept_as_symlinks(tmp_path: Path) -> None:
    only = layer(tmp_path, "a" * 64, {"lib/real.so": "binary"})
    os.symlink("real.so", tmp_path / only / "lib/link.so")

    merged = merge_layers(tmp_path, [only])

    assert os.readlink(merged / "lib/link.so") == "real.so"


def test_the_folder_is_keyed_by_the_layers_and_their_order(tmp_path: Path) -> None:
    first = layer(tmp_path, "a" * 64, {"x": "1"})
    second = layer(tmp_path, "b" * 64, {"x": "2"})

    assert merged_layers_dir(tmp_path, [first, second]) == merged_layers_dir(tmp_path, [first, second])
    assert merged_layers_dir(tmp_path, [first, second]) != merged_layers_dir(tmp_path, [second, first])
    assert (merge_layers(tmp_path, [second, first]) / "x").read_text() == "1"


def test_an_existing_merge_is_reused_not_rebuilt(tmp_path: Path) -> None:
    only = layer(tmp_path, "a" * 64, {"x": "1"})
    merged = merge_layers(tmp_path, [only])
    (merged / "marker").write_text("kept")

    assert merge_layers(tmp_path, [only]) == merged
    assert (merged / "marker").read_text() == "kept"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".merging-")]
