"""Ember's sandbox levels as the tests see them: what each promises (GUARANTEES), and how to run it.

The rootless level is run as it is meant to be, by an unprivileged user: uid 65534, on Debian's
python3.11 (the venv's interpreter lives under /root, where that user cannot go), importing Ember
and its dependencies from a copy it can read (`readable_site`).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Guarantees:
    """What a sandbox level promises a function's host, as its module docstring in ember/sandbox/ states it.
    The contract suite (test_sandbox_contract.py) asserts each one, both ways where a level without it can be
    watched safely (a level that hides nothing is not asked to write to the host's /usr)."""

    #: health, the start-up log and every REPORT line carry "NO ISOLATION"
    warns_no_isolation: bool
    #: the function sees only its environment's processes (a pid namespace of its own)
    hides_host_processes: bool
    #: the host's files (the data dir, other functions' code, /root, /etc/shadow, Ember's environ) are out of sight
    hides_host_files: bool
    #: its network is a loopback of its own with the Runtime API and Ember's AWS APIs (AWS_ENDPOINT_URL) on it, nothing
    #: of the host's (the AWS APIs there: test_function_endpoint.py)
    isolates_network: bool
    #: its code and the system's folders (/var/task, /var/runtime, /var/lang, /usr) are read-only
    read_only_code: bool
    #: nothing outside /tmp is writable (rootless: the rest of the root is a tmpfs private to the environment)
    read_only_root: bool
    #: it runs in a user namespace that maps Ember's uid alone (so uid 0 does not exist for it)
    user_namespace: bool
    #: it runs as a uid of its own, not as Ember's
    separate_uid: bool
    #: no capabilities, and no_new_privs
    drops_privileges: bool
    #: a seccomp filter: the deny-list (unshare, mount, ptrace...)
    seccomp: bool
    #: who holds memory and processes: the kernel's cgroup (exact), or Ember's watchdog (sampled, may overshoot)
    memory_limit: Literal["cgroup", "watchdog"]
    #: CPU shared out by memory size (MemorySize/1,769 vCPU, a cgroup quota)
    limits_cpu: bool
    #: /tmp: an ext4 image of EphemeralStorage size (disk, not memory), a tmpfs of that size, or an unsized
    #: folder on the host's disk ($TMPDIR: /tmp itself is the host's)
    tmp: Literal["disk", "tmpfs", "host folder"]
    #: resource limits set on the environment: RLIMIT name → (soft, hard)
    rlimits: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: what ends a server's environments when it is killed without its shutdown (SIGKILL): its reaper process,
    #: bwrap's --die-with-parent, or nothing
    ended_with_a_killed_server: Literal["reaper", "die-with-parent"] | None = None


#: every level in ember.sandbox.SANDBOXES (test_sandbox_contract checks none is missing)
GUARANTEES = {
    "isolated": Guarantees(
        warns_no_isolation=False, hides_host_processes=True, hides_host_files=True, isolates_network=True,
        read_only_code=True, read_only_root=True, user_namespace=False, separate_uid=True, drops_privileges=True,
        seccomp=True, memory_limit="cgroup", limits_cpu=True, tmp="disk",
        rlimits={"nofile": (1024, 1024), "core": (0, 0)}, ended_with_a_killed_server="reaper"),
    "rootless": Guarantees(
        warns_no_isolation=False, hides_host_processes=True, hides_host_files=True, isolates_network=True,
        read_only_code=True, read_only_root=False, user_namespace=True, separate_uid=False, drops_privileges=True,
        seccomp=True, memory_limit="watchdog", limits_cpu=False, tmp="tmpfs",
        rlimits={"nofile": (1024, 1024)}, ended_with_a_killed_server="die-with-parent"),
    "plain": Guarantees(
        warns_no_isolation=True, hides_host_processes=False, hides_host_files=False, isolates_network=False,
        read_only_code=False, read_only_root=False, user_namespace=False, separate_uid=False, drops_privileges=False,
        seccomp=False, memory_limit="watchdog", limits_cpu=False, tmp="host folder",
        rlimits={"nofile": (1024, 1024), "core": (0, 0)}, ended_with_a_killed_server=None),
}


def levels_where(**wanted: object) -> list[str]:
    """The levels whose guarantees have the `wanted` values, e.g. levels_where(seccomp=True)."""
    return [name for name, promised in GUARANTEES.items()
            if all(getattr(promised, key) == value for key, value in wanted.items())]


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


def distributions_needed(name: str, seen: set[str]) -> None:
    """`name` and, recursively, the distributions it requires (extras left out)."""
    key = name.lower().replace("_", "-")
    if key in seen:
        return
    try:
        requirements = importlib.metadata.requires(name) or []
    except importlib.metadata.PackageNotFoundError:
        return  # required only under another Python (its marker says so), so not installed here
    seen.add(key)
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        if match:
            distributions_needed(match.group(0), seen)


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
    distributions_needed("ember", distributions)
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
