"""A tiny process that outlives an Ember server at the isolated level and cleans up after it if it
dies without shutting down (`kill -9`, the OOM killer).

Environments are frozen while idle, and a frozen process cannot act on SIGKILL, so without it
the environments of a dead server would stay (frozen, holding memory), with their cgroups,
mounts and loop devices, until another Ember starts on the host. The server holds the write end
of the reaper's stdin: a clean shutdown writes `done` before closing it; end of file without it
means the server died. The reaper then takes the server's instance lock (a new server on the
same data dir that already holds it cleans up by itself) and removes what the server left.

Run as `python -m ember.sandbox.reaper INSTANCE STATE_DIR`.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

_CLEAN_EXIT = b"done"


class Reaper:
    """The server's side: starts the reaper and tells it about a clean shutdown."""

    def __init__(self, instance: str, state_dir: Path) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ember.sandbox.reaper", instance, str(state_dir.resolve())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
        )

    def dismiss(self) -> None:
        """A clean shutdown: nothing is left to clean, so the reaper exits."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(_CLEAN_EXIT)
            self._process.stdin.close()
        except OSError:
            pass  # it is gone already
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def main(instance: str, state_dir: Path) -> None:
    # Ctrl-C and SIGTERM are for the server; the reaper waits for the server's end either way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    message = sys.stdin.buffer.read()  # until the server closes its end, or dies
    if message == _CLEAN_EXIT:
        return
    from ember.sandbox.host_claims import HostClaims
    from ember.sandbox.isolated import clean_up_instance

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if HostClaims.clean_if_dead(instance, clean_up_instance):
        log.info("cleaned up after the Ember server on %s, which died without shutting down", state_dir)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
