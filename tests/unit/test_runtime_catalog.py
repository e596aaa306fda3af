"""The runtime catalog, the host node finder, and what an environment runs first (bootstraps, extensions)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ember.invoke.entrypoints import InvalidEntrypoint, custom_bootstrap, external_extensions, with_extensions
from ember.runtimes.catalog import Runtime, RuntimeKind
from ember.runtimes.interpreters import NodeFinder


def test_a_node_outside_usr_is_shown_at_var_lang() -> None:
    nvm_node = Runtime("nodejs20.x", RuntimeKind.NODEJS, Path("/home/u/.nvm/versions/node/v20.11.0/bin/node"), "")
    assert nvm_node.lang_dir() == Path("/home/u/.nvm/versions/node/v20.11.0")
    assert nvm_node.argv("/var/runtime", "/var/lang") == ["/var/lang/bin/node", "--expose-gc",
                                                          "/var/runtime/node/bootstrap.mjs"]
    system_node = Runtime("nodejs20.x", RuntimeKind.NODEJS, Path("/usr/bin/node"), "")
    assert system_node.lang_dir() is None  # /usr is visible in every sandbox as it is
    assert system_node.argv("/var/runtime", None)[0] == "/usr/bin/node"
    assert system_node.node_major == 20 and system_node.execution_env == "AWS_Lambda_nodejs20.x"
    assert system_node.writes_end_marker and not system_node.can_park


def test_an_os_only_runtime_runs_the_function_bootstrap() -> None:
    provided = Runtime("provided.al2023", RuntimeKind.PROVIDED, None, "")
    assert provided.is_available and not provided.can_park and not provided.writes_end_marker
    assert provided.execution_env is None  # Lambda leaves AWS_EXECUTION_ENV unset for OS-only runtimes
    assert provided.argv("/var/runtime", None, "/var/task/bootstrap") == ["/var/task/bootstrap"]
    blocked = Runtime("provided.al2", RuntimeKind.PROVIDED, None, "", blocked_reason="no helper Python")
    assert not blocked.is_available


def test_nvm_and_fnm_builds_are_candidates_newest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for version in ("v20.1.0", "v20.10.2", "v20.9.0", "v22.1.0"):
        node = tmp_path / "nvm" / "versions" / "node" / version / "bin" / "node"
        node.parent.mkdir(parents=True)
        node.write_bytes(b"\x7fELF")
    fnm_node = tmp_path / "fnm" / "node-versions" / "v20.3.0" / "installation" / "bin" / "node"
    fnm_node.parent.mkdir(parents=True)
    fnm_node.write_bytes(b"\x7fELF")
    monkeypatch.setenv("NVM_DIR", str(tmp_path / "nvm"))
    monkeypatch.setenv("FNM_DIR", str(tmp_path / "fnm"))
    candidates = [str(path) for path in NodeFinder._candidates(20)]
    managed = [path for path in candidates if path.startswith(str(tmp_path))]
    assert [Path(path).parts[-3] for path in managed[:3]] == ["v20.10.2", "v20.9.0", "v20.1.0"]
    assert managed[3] == str(fnm_node)
    assert candidates[0] == "/usr/bin/node"  # system installs come first


def _write(path: Path, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_custom_bootstrap_comes_from_the_package_then_a_layer(tmp_path: Path) -> None:
    task, opt = tmp_path / "task", tmp_path / "opt"
    task.mkdir()
    with pytest.raises(InvalidEntrypoint, match=r"^Couldn't find valid bootstrap\(s\): \[/var/task/bootstrap "
                                                r"/opt/bootstrap\]$"):
        custom_bootstrap(task, None, "/var/task", "/opt")
    _write(opt / "bootstrap", 0o755)
    assert custom_bootstrap(task, opt, "/var/task", "/opt") == "/opt/bootstrap"
    _write(task / "bootstrap", 0o644)
    with pytest.raises(InvalidEntrypoint, match="^fork/exec /var/task/bootstrap: permission denied$"):
        custom_bootstrap(task, opt, "/var/task", "/opt")
    (task / "bootstrap").chmod(0o755)
    assert custom_bootstrap(task, opt, "/var/task", "/opt") == "/var/task/bootstrap"


def test_extensions_are_the_executables_in_opt_extensions(tmp_path: Path) -> None:
    assert external_extensions(None) == ()
    assert external_extensions(tmp_path) == ()
    _write(tmp_path / "extensions" / "zeta", 0o755)
    _write(tmp_path / "extensions" / "alpha", 0o755)
    _write(tmp_path / "extensions" / "notes.txt", 0o644)
    os.symlink("alpha", tmp_path / "extensions" / "beta")
    names = external_extensions(tmp_path)
    assert names == ("alpha", "beta", "zeta")
    argv = with_extensions(["/usr/bin/node", "b.mjs"], names, "/var/runtime", "/opt")
    assert argv == ["/bin/sh", "/var/runtime/launch_extensions.sh", "/opt/extensions/alpha", "/opt/extensions/beta",
                    "/opt/extensions/zeta", "--", "/usr/bin/node", "b.mjs"]
    assert with_extensions(["/usr/bin/node"], (), "/var/runtime", "/opt") == ["/usr/bin/node"]
