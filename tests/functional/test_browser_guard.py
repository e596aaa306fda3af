"""What a web page can make a browser send to Ember: cross-origin requests are refused unless their
origin is trusted, and Host names Ember does not serve are refused (DNS rebinding). AWS clients,
which send no Origin, are unaffected."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.functional.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, make_zip, unique_name

HANDLER = "def handler(event, context):\n    return {'ran': True}\n"
EVIL = "https://evil.example"


def raw_request(ember: EmberServer, method: str, path: str, body: bytes = b"",
                **headers: str) -> tuple[int, dict, bytes]:
    """One request over a plain socket, with exactly the headers given (Host included)."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
             f"Content-Length: {len(body)}", "Connection: close", "", ""]
    with socket.create_connection(("127.0.0.1", ember.port), timeout=30) as connection:
        connection.sendall("\r\n".join(lines).encode() + body)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    head, _, payload = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), response_headers, payload


def create_body(name: str) -> bytes:
    return json.dumps({"FunctionName": name, "Runtime": DEFAULT_RUNTIME, "Role": ROLE, "Handler": "index.handler",
                       "Code": {"ZipFile": base64.b64encode(make_zip({"index.py": HANDLER})).decode()}}).encode()


def exists(ember: EmberServer, name: str) -> bool:
    try:
        ember.lambda_client().get_function(FunctionName=name)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    return True


def test_a_cross_origin_simple_request_cannot_create_or_invoke_a_function(server: EmberServer) -> None:
    name = unique_name("evil")
    host = f"127.0.0.1:{server.port}"
    status, headers, body = raw_request(server, "POST", "/2015-03-31/functions", create_body(name), Host=host,
                                        Origin=EVIL, Content_Type="text/plain")
    assert status == 403
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    assert "--cors-origins" in json.loads(body)["message"]
    assert "access-control-allow-origin" not in headers
    assert not exists(server, name)

    # The same function created by an AWS client (no Origin) is not refused; a page still cannot run it.
    server.lambda_client().create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE,
                                           Handler="index.handler", Code={"ZipFile": make_zip({"index.py": HANDLER})})
    try:
        status, headers, body = raw_request(server, "POST", f"/2015-03-31/functions/{name}/invocations", b"{}",
                                            Host=host, Origin=EVIL, Content_Type="text/plain")
        assert status == 403 and headers["x-amzn-errortype"] == "AccessDeniedException"
        assert b"ran" not in body
        # an opaque origin (sandboxed iframe, file://) is not trusted either
        status, _, _ = raw_request(server, "POST", f"/2015-03-31/functions/{name}/invocations", b"{}", Host=host,
                                   Origin="null")
        assert status == 403
        result = server.lambda_client().invoke(FunctionName=name, Payload=b"{}")
        assert json.load(result["Payload"]) == {"ran": True}
    finally:
        server.lambda_client().delete_function(FunctionName=name)


def test_ember_answers_only_host_names_it_serves(server: EmberServer) -> None:
    for host in ("evil.example", f"evil.example:{server.port}", "localhost.evil.example", "127.0.0.1.nip.io"):
        status, headers, body = raw_request(server, "GET", "/2015-03-31/functions/", Host=host)
        assert status == 403, host
        assert headers["x-amzn-errortype"] == "AccessDeniedException"
        assert "--allowed-hosts" in json.loads(body)["message"]
    status, _, _ = raw_request(server, "GET", "/_ember/health", Host="rebound.example")
    assert status == 403
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "LOCALHOST",
                 f"api.ember.localhost:{server.port}", f"[::1]:{server.port}", "10.1.2.3", socket.gethostname()):
        status, _, _ = raw_request(server, "GET", "/2015-03-31/functions/", Host=host)
        assert status == 200, host


def test_the_dashboard_origin_is_trusted(server: EmberServer) -> None:
    """A page Ember served itself (the dashboard) sends its own origin: same scheme, host and port."""
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        status, headers, _ = raw_request(server, "GET", "/2015-03-31/functions/", Host=host, Origin=f"http://{host}")
        assert status == 200, host
    # the same host on another port is another origin
    status, _, _ = raw_request(server, "GET", "/2015-03-31/functions/", Host=f"127.0.0.1:{server.port}",
                               Origin=f"http://127.0.0.1:{server.port + 1}")
    assert status == 403


def test_configured_origins_and_hosts_are_answered_with_cors_headers(start_server) -> None:
    ember = start_server("--cors-origins", "http://app.example:3000", "--allowed-hosts", "ember.test,*.corp.test",
                         env={"EMBER_CORS_ORIGINS": "http://ignored-when-the-flag-is-given.example"})
    status, headers, _ = raw_request(ember, "OPTIONS", "/2015-03-31/functions/", Host="ember.test",
                                     Origin="http://app.example:3000", Access_Control_Request_Method="POST",
                                     Access_Control_Request_Headers="content-type,x-amz-date,authorization")
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://app.example:3000"
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "content-type,x-amz-date,authorization"
    status, headers, _ = raw_request(ember, "GET", "/2015-03-31/functions/", Host="lambda.eu.corp.test",
                                     Origin="http://app.example:3000")
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://app.example:3000"
    assert "x-amzn-requestid" in headers["access-control-expose-headers"]
    for origin in ("http://ignored-when-the-flag-is-given.example", "https://app.example:3000", EVIL):
        status, _, _ = raw_request(ember, "GET", "/2015-03-31/functions/", Host="ember.test", Origin=origin)
        assert status == 403, origin
    status, _, _ = raw_request(ember, "GET", "/2015-03-31/functions/", Host="corp.test")
    assert status == 403


def test_cors_origins_come_from_the_environment_when_no_flag_is_given(start_server) -> None:
    ember = start_server(env={"EMBER_CORS_ORIGINS": "http://localhost:5173, http://localhost:8080"})
    for origin in ("http://localhost:5173", "http://localhost:8080"):
        status, headers, _ = raw_request(ember, "GET", "/2015-03-31/functions/", Host=f"127.0.0.1:{ember.port}",
                                         Origin=origin)
        assert status == 200 and headers["access-control-allow-origin"] == origin


# --- in a real browser -------------------------------------------------------------------------

ATTACK_PAGE = """<!doctype html><title>a page on another site</title><script>
async function attack(ember, name, body) {
  const outcome = {};
  for (const [label, path, payload] of [["create", "/2015-03-31/functions", body],
                                          ["invoke", `/2015-03-31/functions/${name}/invocations`, "{}"]]) {
    try {  // a "simple" request: no preflight; the page cannot read the answer, but the server acts on it
      await fetch(ember + path, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                                 body: payload});
      outcome[label + "_sent"] = true;
    } catch (error) { outcome[label + "_sent"] = String(error); }
    try {  // a CORS request: readable only if Ember allowed this origin
      const response = await fetch(ember + path, {method: "POST", body: payload});
      outcome[label + "_read"] = await response.text();
    } catch (error) { outcome[label + "_read"] = "blocked: " + error; }
  }
  return outcome;
}
</script>"""


@pytest.fixture
def attack_site(tmp_path: Path) -> Iterator[str]:
    """A web site on another origin (another loopback port), serving the attack page."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(ATTACK_PAGE)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "site"), **kwargs)

        def log_message(self, *args) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{site.server_address[1]}/index.html"
    site.shutdown()
    site.server_close()


@needs_chromium
def test_a_page_on_another_origin_cannot_create_or_invoke_in_chromium(server: EmberServer, attack_site: str,
                                                                        tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    name = unique_name("browser")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP rebound.example 127.0.0.1"])
        try:
            page = context.new_page()
            page.goto(attack_site)
            outcome = page.evaluate("([ember, name, body]) => attack(ember, name, body)",
                                    [server.url, name, create_body(name).decode()])
            # DNS rebinding: the attacker's name now resolves to the loopback address
            rebound = page.goto(f"http://rebound.example:{server.port}/2015-03-31/functions/")
            rebound_status = rebound.status if rebound else None
        finally:
            context.close()
    assert outcome["create_sent"] is True and outcome["invoke_sent"] is True  # the browser did send them
    assert outcome["create_read"].startswith("blocked") and outcome["invoke_read"].startswith("blocked")
    assert not exists(server, name), "a page on another origin created a function"
    assert rebound_status == 403
