"""The first program in a rootless environment: it makes the Runtime API's and the AWS APIs' listeners.

An unprivileged Ember cannot enter its environments' network namespaces, so the
environment makes the listeners itself, on 127.0.0.1:9001 (the Runtime API) and
127.0.0.1:4566 (Ember's AWS APIs, AWS_ENDPOINT_URL), hands both to Ember over an
inherited Unix socket (the fd number is in EMBER_LISTENER_CHANNEL_FD), and then becomes
the runtime with exec. Standard library only; runs on Python 3.9+.
"""

import os
import socket
import sys

RUNTIME_API_PORT = 9001
AWS_API_PORT = 4566


def listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    return listener


def main() -> None:
    channel = socket.socket(fileno=int(os.environ.pop("EMBER_LISTENER_CHANNEL_FD")))
    listeners = [listen(RUNTIME_API_PORT), listen(AWS_API_PORT)]
    socket.send_fds(channel, [b"L"], [listener.fileno() for listener in listeners])
    # Ember serves the listeners from its side; the runtime only ever connects to them.
    for listener in listeners:
        listener.close()
    channel.close()
    command = sys.argv[1:]
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
