"""The bubblewrap command line for an execution environment's file system and namespaces.

Inside, an environment sees, read-only: `/usr` (and the `/bin`, `/lib*` links), the
runtime's install tree at `/var/lang`, its code at `/var/task` and Ember's runtime files
at `/var/runtime`; and a generated `/etc`, a private `/tmp`, its own `/proc` and a
minimal `/dev`. Nothing else of the host: not the data dir, not other functions' code,
not /root or /etc/shadow.

bwrap quirks this answers to (measured on bubblewrap 0.8):
- As root (no user namespace) bwrap creates implicit parent directories with mode 0700,
  which an unprivileged payload cannot enter: /var and /etc get an explicit 0755 `--dir`.
- `--unshare-all` implies a user namespace, after which `setpriv` fails: as root the
  namespaces are listed one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
LANG_DIR = "/var/lang"
SDK_DIR = "/var/sdk"
#: host files an environment needs to see in its /etc (read-only), when they exist
HOST_ETC_FILES = ("ld.so.cache", "localtime", "nsswitch.conf", "ssl", "ca-certificates", "mime.types")
_MERGED_USR_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Layout:
    """What an environment's file system is made of, in host paths."""

    task_dir: Path  #: the function's unpacked code → /var/task
    runtime_dir: Path  #: Ember's runtime files (bootstraps) → /var/runtime
    lang_dir: Path | None  #: the runtime's install tree (e.g. a pyenv build) → /var/lang
    opt_dir: Path | None  #: the function's merged layers → /opt (an empty /opt without layers)
    etc_dir: Path  #: generated passwd, group, hosts → /etc/...
    tmp_dir: Path | None  #: a host folder to bind as /tmp; None: a tmpfs of `tmp_size_mb`
    tmp_size_mb: int
    sdk_paths: tuple[Path, ...] = ()  #: SDK packages (boto3...) → /var/sdk/<name>


def filesystem_args(layout: Layout) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for link in _MERGED_USR_LINKS:
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", str(target.readlink()), f"/{link}"]
        elif target.is_dir():
            args += ["--ro-bind", str(target), f"/{link}"]
    args += ["--perms", "0755", "--dir", "/var", "--perms", "0755", "--dir", "/etc"]
    for name in HOST_ETC_FILES:
        host = Path("/etc") / name
        if host.exists():
            args += ["--ro-bind", str(host.resolve()), f"/etc/{name}"]
    for generated in sorted(layout.etc_dir.iterdir()):
        args += ["--ro-bind", str(generated), f"/etc/{generated.name}"]
    if layout.lang_dir is not None:
        args += ["--ro-bind", str(layout.lang_dir), LANG_DIR]
    if layout.sdk_paths:
        args += ["--perms", "0755", "--dir", SDK_DIR]
        for path in layout.sdk_paths:
            args += ["--ro-bind", str(path), f"{SDK_DIR}/{path.name}"]
    if layout.opt_dir is not None:
        args += ["--ro-bind", str(layout.opt_dir), "/opt"]
    else:
        args += ["--perms", "0755", "--dir", "/opt"]
    args += ["--ro-bind", str(layout.task_dir), TASK_ROOT, "--ro-bind", str(layout.runtime_dir), RUNTIME_DIR]
    if layout.tmp_dir is not None:
        args += ["--bind", str(layout.tmp_dir), "/tmp"]
    else:
        args += ["--size", str(layout.tmp_size_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", "/tmp"]
    args += ["--proc", "/proc", "--dev", "/dev", "--chdir", TASK_ROOT]
    return args


def exit_code(bwrap_code: int) -> int:
    """bwrap reports a child killed by signal N as 128 + N: the code as asyncio reports it (-N)."""
    return -(bwrap_code - 128) if bwrap_code > 128 else bwrap_code


def write_etc(etc_dir: Path, uids: Iterable[int], network_files: Mapping[str, str] | None = None) -> None:
    """The generated /etc files: a passwd and group naming each sandbox uid, hosts, and the
    function network's files (resolv.conf, a hosts naming host.ember.internal)."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    users = "".join(f"sbx_user{uid}:x:{uid}:{uid}::/tmp:/sbin/nologin\n" for uid in uids)
    (etc_dir / "passwd").write_text("root:x:0:0:root:/root:/sbin/nologin\n" + users)
    (etc_dir / "group").write_text("root:x:0:\n" + "".join(f"sbx_user{uid}:x:{uid}:\n" for uid in uids))
    (etc_dir / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
    for name, text in (network_files or {}).items():
        (etc_dir / name).write_text(text)
    for path in etc_dir.iterdir():
        path.chmod(0o644)
