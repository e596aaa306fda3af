"""What an environment runs first: a custom runtime's bootstrap, and the extensions launcher.

OS-only runtimes (provided.*) run the function's executable `bootstrap`: the package's
(/var/task/bootstrap), else a layer's (/opt/bootstrap). Lambda refuses to start one that is
missing or not executable with Runtime.InvalidEntrypoint; Ember checks on the host, before
starting a sandbox, and answers the same.

External extensions are the executables in /opt/extensions. When a function has any, its
environment starts Ember's launcher (`runtimes/launch_extensions.sh`, POSIX sh): it starts
each extension, waits for the host to open the start gate once they have all registered,
then becomes the runtime.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

LAUNCHER = "launch_extensions.sh"


class InvalidEntrypoint(Exception):
    """A custom runtime has no bootstrap it can start (the message is Lambda's wording)."""


def _is_executable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode  # follows a symlink to its target, as exec does
    except OSError:
        return False
    return stat.S_ISREG(mode) and bool(mode & 0o111)


def custom_bootstrap(task_dir: Path, opt_dir: Path | None, task_root: str, opt_root: str) -> str:
    """Where the environment finds a custom runtime's bootstrap (its path inside), or
    InvalidEntrypoint: the package's bootstrap comes first, then a layer's."""
    candidates = [(task_dir / "bootstrap", f"{task_root}/bootstrap")]
    candidates.append(((opt_dir or Path("/nonexistent")) / "bootstrap", f"{opt_root}/bootstrap"))
    for host_path, inside in candidates:
        if os.path.lexists(host_path):
            if not _is_executable(host_path):
                raise InvalidEntrypoint(f"fork/exec {inside}: permission denied")
            return inside
    listed = " ".join(inside for _, inside in candidates)
    raise InvalidEntrypoint(f"Couldn't find valid bootstrap(s): [{listed}]")


def external_extensions(opt_dir: Path | None) -> tuple[str, ...]:
    """The names of the executables in the layers' /opt/extensions, sorted (Lambda starts them all)."""
    if opt_dir is None:
        return ()
    folder = opt_dir / "extensions"
    try:
        names = sorted(entry.name for entry in folder.iterdir() if _is_executable(entry))
    except OSError:
        return ()
    return tuple(names)


def with_extensions(argv: list[str], names: tuple[str, ...], runtime_root: str, opt_root: str) -> list[str]:
    """`argv` started behind the extensions launcher, which first starts `names` from /opt/extensions."""
    if not names:
        return argv
    return ["/bin/sh", f"{runtime_root}/{LAUNCHER}", *(f"{opt_root}/extensions/{name}" for name in names), "--",
            *argv]
