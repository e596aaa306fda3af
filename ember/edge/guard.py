"""What a browser could forge: requests from web pages Ember does not trust, and DNS rebinding.

A page on any site can make a browser send "simple" cross-origin requests (POST with
`Content-Type: text/plain`) without a preflight, so without this guard any web page a developer
opens could create and run functions. Browsers always send `Origin` on such requests (and on
every non-GET request); AWS SDKs and CLIs never do, so they are unaffected.

A DNS-rebinding page reaches Ember under its own domain name: the browser then sends that name
in `Host`, which is why only names Ember serves are answered: loopback names (`localhost`,
`*.localhost`), IP addresses (a page whose origin is an IP address is not a rebinding), this
machine's own name, and the names configured with `--allowed-hosts`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

#: methods and headers a trusted origin's preflight is granted
_ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
#: response headers a trusted origin's scripts may read (the AWS SDK for JavaScript reads these)
_EXPOSE_HEADERS = ", ".join([
    "x-amzn-requestid", "x-amzn-errortype", "x-amz-function-error", "x-amz-log-result",
    "x-amz-executed-version", "x-amzn-trace-id", "etag", "date",
])


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the AWS-style error type and a message that says what to change."""

    code: str
    message: str


def _host_name(host_header: str) -> str:
    """The name in a Host header, without its port; IPv6 literals without their brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _origin_of(url: str) -> str:
    """An origin as browsers write it: scheme://host[:port], lower-case, no path or default port."""
    parsed = urllib.parse.urlsplit(url.strip().lower())
    default_port = {"http": 80, "https": 443}.get(parsed.scheme)
    try:
        port = parsed.port
    except ValueError:
        return url.strip().lower()
    host = parsed.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}" + (f":{port}" if port and port != default_port else "")


class BrowserGuard:
    """Decides whether a request's `Host` and `Origin` are ones Ember answers, and which CORS
    headers a trusted origin gets."""

    def __init__(self, allowed_hosts: Iterable[str] = (), cors_origins: Iterable[str] = (),
                 machine_names: Iterable[str] | None = None) -> None:
        self._host_patterns = [pattern.strip().lower() for pattern in allowed_hosts if pattern.strip()]
        if machine_names is None:
            machine_names = {socket.gethostname(), socket.getfqdn()}
        self._machine_names = {name.lower() for name in machine_names if name}
        origins = [origin.strip() for origin in cors_origins if origin.strip()]
        self._is_any_origin = "*" in origins
        self._origins = {_origin_of(origin) for origin in origins if origin != "*"}

    def is_served_host(self, host_header: str | None) -> bool:
        """Whether `host_header` names Ember (a request without one comes from no browser)."""
        if not host_header:
            return True
        name = _host_name(host_header)
        if name == "localhost" or name.endswith(".localhost") or _is_ip_address(name):
            return True
        if name in self._machine_names:
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._host_patterns)

    def is_trusted_origin(self, origin: str, host_header: str | None, scheme: str) -> bool:
        """Whether a page from `origin` may call Ember: Ember's own pages (the dashboard), or an
        origin configured with `--cors-origins`."""
        if self._is_any_origin:
            return True
        normalized = _origin_of(origin)
        if host_header and normalized == _origin_of(f"{scheme}://{host_header}"):
            return True  # same origin: a page Ember served itself
        return normalized in self._origins

    def refusal(self, host_header: str | None, origin: str | None, scheme: str) -> Refusal | None:
        """None when the request may go on; otherwise why not."""
        if not self.is_served_host(host_header):
            return Refusal("AccessDeniedException",
                           f"Ember does not answer requests for host {_host_name(host_header or '')!r}: "
                           "it answers loopback names, IP addresses and this machine's name. To serve "
                           "another name, start it with --allowed-hosts NAME (or EMBER_ALLOWED_HOSTS)")
        if origin is not None and not self.is_trusted_origin(origin, host_header, scheme):
            return Refusal("AccessDeniedException",
                           f"Ember refuses requests from web pages at {origin.strip()!r}: only its own dashboard "
                           "may call it from a browser. To allow that origin, start it with --cors-origins "
                           "ORIGIN (or EMBER_CORS_ORIGINS)")
        return None

    def cors_headers(self, origin: str | None, requested_headers: str | None = None,
                     is_preflight: bool = False) -> list[tuple[str, str]]:
        """The CORS headers for a response to a trusted `origin` (none for requests without one)."""
        if origin is None:
            return []
        headers = [("access-control-allow-origin", origin.strip()), ("vary", "Origin"),
                   ("access-control-expose-headers", _EXPOSE_HEADERS)]
        if is_preflight:
            headers += [("access-control-allow-methods", _ALLOW_METHODS), ("access-control-max-age", "600")]
            if requested_headers:
                headers.append(("access-control-allow-headers", requested_headers))
        return headers
