"""A stand-in for the internet, run inside a network namespace the tests make (`python -m`).

It serves HTTP on ADDRESS:8080 and :8081 (GET / answers "hello from <port>"; GET /bytes/N
answers N bytes; GET /hold keeps the connection open) and DNS on ADDRESS:53, which answers
the names in NAMES (name=address pairs from the command line) and nothing else.

    python -m tests.functional.internet_host ADDRESS internet.test=10.1.2.3 rebind.test=127.0.0.1
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dnslib import QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

HTTP_PORTS = (8080, 8081)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        port = self.server.server_address[1]
        if self.path.startswith("/bytes/"):
            size = int(self.path.removeprefix("/bytes/"))
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            while size > 0:
                self.wfile.write(chunk[:size])
                size -= len(chunk)
            return
        if self.path == "/hold":
            self.send_response(200)
            self.send_header("Content-Length", "1")
            self.end_headers()
            time.sleep(60)
            return
        body = f"hello from {port}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Names(BaseResolver):  # type: ignore[misc]
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name in self.names and request.q.qtype in (QTYPE.A, QTYPE.ANY):
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.names[name]), ttl=1))
        elif name not in self.names:
            reply.header.rcode = 3  # NXDOMAIN
        return reply


def main() -> None:
    address = sys.argv[1]
    names = dict(pair.split("=", 1) for pair in sys.argv[2:])
    for port in HTTP_PORTS:
        server = ThreadingHTTPServer((address, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    for tcp in (False, True):
        DNSServer(Names(names), address=address, port=53, tcp=tcp, logger=_Quiet()).start_thread()
    print("ready", flush=True)
    threading.Event().wait()


class _Quiet:
    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None


if __name__ == "__main__":
    main()
