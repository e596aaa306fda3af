"""The data dir's permissions: it holds code, environment variables and logs, so only Ember's own
user may read it (folder 0700, files 0600), fixed at every start for data dirs made before."""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: sub-folders whose files only the server reads (the rest, such as unpacked code and the
#: sandboxes' /etc, is mounted into environments that run as other users and stays readable to them
#: through the mounts; the 0700 data dir still keeps everyone else out)
PRIVATE_TREES = ("code",)


def _make_private(path: Path, folder_mode: int = 0o700, file_mode: int = 0o600) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return  # chmod would follow it out of the data dir
    mode = folder_mode if stat.S_ISDIR(info.st_mode) else file_mode
    if stat.S_IMODE(info.st_mode) != mode and (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
        os.chmod(path, mode)


def create_private(path: Path) -> None:
    """Create the file `path` (and its folder) readable by this user alone, unless it exists.

    For a SQLite database before its first connect: SQLite gives the -wal and -shm files it adds
    later the database file's own mode, so they are private from the start too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))


def secure_data_dir(data_dir: Path) -> None:
    """Create `data_dir` if needed; make it and the files directly in it (the databases, their WAL
    and shared-memory files) and the PRIVATE_TREES private to this user: data dirs from before, or
    loosened by hand. New databases are created private (`create_private`)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _make_private(data_dir)
    for entry in data_dir.iterdir():
        if entry.is_file() and not entry.is_symlink():
            _make_private(entry)
    for name in PRIVATE_TREES:
        tree = data_dir / name
        if not tree.is_dir():
            continue
        for folder, _folders, files in os.walk(tree):
            _make_private(Path(folder))
            for file_name in files:
                _make_private(Path(folder) / file_name)
