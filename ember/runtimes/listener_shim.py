"""The first program in a rootless environment: it makes the Runtime API listener.

An unprivileged Ember cannot enter its environments' network namespaces, so the
environment makes the listener itself, on 127.0.0.1:9001, hands it to Ember over an
inherited Unix socket (the fd number is in EMBER_LISTENER_CHANNEL_FD), and then becomes
the runtime with exec. Standard library only; runs on Python 3.9+.
"""

import os
import socket
import sys

RUNTIME_API_PORT = 9001


def main() -> None:
    channel = socket.socket(fileno=int(os.environ.pop("EMBER_LISTENER_CHANNEL_FD")))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", RUNTIME_API_PORT))
    listener.listen(16)
    socket.send_fds(channel, [b"L"], [listener.fileno()])
    # Ember serves the listener from its side; the runtime only ever connects to it.
    listener.close()
    channel.close()
    command = sys.argv[1:]
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
