"""Running Ember at each sandbox level from the tests.

The rootless level is run as it is meant to be, by an unprivileged user: uid 65534, on Debian's
python3.11 (the venv's interpreter lives under /root, where that user cannot go), importing Ember
and its dependencies from a copy it can read (`readable_site`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = Path("/usr/bin/python3.11")
#: the runtime an unprivileged Ember can serve: Debian's interpreter, outside /root
NOBODY_RUNTIME = "python3.11"
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
#: `python -c` stand-in for the `ember` console script (which points at the venv's interpreter)
EMBER_MAIN = "from ember.cli import main; main()"
#: how uid 65534 starts `ember` (arguments follow)
EMBER_AS_NOBODY = [*AS_NOBODY, str(DEBIAN_PYTHON), "-c", EMBER_MAIN]


def cannot_run_as_nobody() -> str | None:
    """Why this host cannot run Ember as uid 65534, or None."""
    if os.geteuid() != 0:
        return f"not root: the tests need root to run Ember as uid {NOBODY}"
    if not DEBIAN_PYTHON.exists():
        return f"{DEBIAN_PYTHON} is missing: no interpreter an unprivileged user can run"
    if shutil.which("setpriv") is None:
        return "setpriv is not installed (util-linux)"
    return None


def nobody_env(home: Path) -> dict[str, str]:
    """A clean environment in which uid 65534 finds Ember and its dependencies (see readable_site)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "PYTHONPATH": str(home / "site")}


def _distributions_needed(name: str, seen: set[str]) -> None:
    """`name` and, recursively, the distributions it requires (extras left out)."""
    key = name.lower().replace("_", "-")
    if key in seen:
        return
    seen.add(key)
    for requirement in importlib.metadata.requires(name) or []:
        if "extra ==" in requirement:
            continue
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        if match:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                _distributions_needed(match.group(0), seen)


def readable_site(target: Path) -> None:
    """Ember and the distributions it runs on, copied (hard-linked where the file system allows) to
    `target`: a checkout or venv inside a private folder (`mktemp -d` is 0700) is out of uid 65534's
    reach, and the rootless tests must run from any checkout."""
    def link_or_copy(source: str, destination: str) -> None:
        try:
            os.link(source, destination)
        except OSError:
            shutil.copy2(source, destination)

    shutil.copytree(REPO / "ember", target / "ember", copy_function=link_or_copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    distributions: set[str] = set()
    _distributions_needed("ember", distributions)
    distributions.discard("ember")
    for name in sorted(distributions):
        distribution = importlib.metadata.distribution(name)
        for relative in distribution.files or []:
            source = Path(str(distribution.locate_file(relative))).resolve()
            if relative.parts[0] == ".." or "__pycache__" in relative.parts or not source.is_file():
                continue  # console scripts live outside site-packages
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not destination.exists():
                link_or_copy(str(source), str(destination))
    for folder, _folders, files in os.walk(target):
        os.chmod(folder, 0o755)
        for file_name in files:
            path = os.path.join(folder, file_name)
            os.chmod(path, os.stat(path).st_mode | 0o444)
