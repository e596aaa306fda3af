"""Plain HTTP request and response values passed between the edge and the protocol layer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class HttpRequest:
    """One HTTP request as the edge received it; header names are lower-case."""

    method: str
    path: str  #: URL path, still percent-encoded
    query: list[tuple[str, str]]  #: decoded query pairs, in order
    headers: dict[str, str]
    body: bytes = b""
    #: the query string as sent, still percent-encoded (for protocols that read it strictly)
    query_string: str = ""
    #: "http" or "https", as the server received it
    scheme: str = "http"

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
