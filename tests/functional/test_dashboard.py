"""The dashboard at /_ember/, driven in headless Chromium (Debian's package, through Playwright):
the function list, a function's page (configuration, invoke form, live log, charts, environments)
and the server page. Screenshots are kept in test-artifacts/ for a human to look at."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from tests.functional.browser import CHROMIUM, CHROMIUM_ARGS, IS_AVAILABLE
from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, make_zip, unique_name

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 20_000

HANDLER = '''
def handler(event, context):
    print("dashboard saw", event)
    return {"doubled": event.get("n", 0) * 2}
'''

if not IS_AVAILABLE:
    pytest.skip("Debian's chromium is not installed (`make test` installs it when run as root)",
                allow_module_level=True)

from playwright.sync_api import Page, sync_playwright  # noqa: E402 - after the skip: it needs the browser


@pytest.fixture(scope="module")
def ember(plain_server: EmberServer) -> EmberServer:
    return plain_server


@pytest.fixture(scope="module")
def function_name(ember: EmberServer) -> Iterator[str]:
    lambda_ = ember.client("lambda")
    name = unique_name("dash")
    lambda_.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.py": HANDLER})}, MemorySize=256,
                            Environment={"Variables": {"STAGE": "test"}})
    lambda_.invoke(FunctionName=name, Payload=json.dumps({"n": 1}))
    lambda_.publish_version(FunctionName=name)
    lambda_.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    yield name
    lambda_.delete_function(FunctionName=name)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    errors: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1600})
        try:
            browser_page = context.new_page()
            browser_page.set_default_timeout(TIMEOUT_MS)
            browser_page.on("pageerror", lambda error: errors.append(str(error)))
            yield browser_page
        finally:
            context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_static_files_are_served_and_others_are_not(ember: EmberServer) -> None:
    index = urllib3.request("GET", f"{ember.url}/_ember/")
    assert index.status == 200 and index.headers["content-type"].startswith("text/html")
    script = urllib3.request("GET", f"{ember.url}/_ember/static/vendor/uPlot.iife.min.js")
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    assert urllib3.request("GET", f"{ember.url}/_ember/static/vendor/%2e%2e/app.js").status == 404
    assert urllib3.request("GET", f"{ember.url}/_ember/static/../routes.py").status == 404
    assert urllib3.request("GET", f"{ember.url}/_ember/static/nothing.js").status == 404


def test_environments_endpoint(ember: EmberServer, function_name: str) -> None:
    document = urllib3.request("GET", f"{ember.url}/_ember/functions/{function_name}/environments").json()
    assert document["functionName"] == function_name and document["inFlight"] == 0
    [environment] = document["environments"]
    assert environment["state"] == "idle" and environment["version"] == "$LATEST"
    assert environment["memoryMb"] == 256 and environment["invocations"] == 1 and environment["ageS"] > 0
    assert environment["logStreamName"].endswith(environment["logStreamName"][-32:])
    empty = urllib3.request("GET", f"{ember.url}/_ember/functions/{unique_name('none')}/environments").json()
    assert empty["environments"] == []


def test_function_list(ember: EmberServer, function_name: str, page: Page) -> None:
    page.goto(f"{ember.url}/_ember/")
    row = page.locator(f'tr[data-function="{function_name}"]')
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[:4] == [function_name, DEFAULT_RUNTIME, "256 MB", "Active"]
    page.wait_for_function(
        f"() => document.querySelector('tr[data-function=\"{function_name}\"] td:nth-child(5)')"
        ".textContent === '1'")
    assert row.locator("td").nth(5).inner_text() == "0.0 %"
    assert row.locator("td").nth(6).inner_text().endswith(" ms")
    assert "sandbox: plain" in page.locator("#sandbox-badge").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_function_page(ember: EmberServer, function_name: str, page: Page) -> None:
    page.goto(f"{ember.url}/_ember/")
    page.locator(f'tr[data-function="{function_name}"] a').click()
    page.locator("#function-name", has_text=function_name).wait_for()
    page.locator("#config dd", has_text="index.handler").wait_for()
    assert "STAGE=test" in page.locator("#config").inner_text()
    page.locator("#version-table td", has_text="$LATEST").first.wait_for()
    assert page.locator("#alias-table td", has_text="prod").count() == 1

    page.fill("#payload", '{"n": 21}')
    page.click("#invoke-button")
    page.locator("#invoke-result", has_text='"doubled": 42').wait_for()
    assert "REPORT RequestId" in page.locator("#invoke-log").inner_text()
    # The live log picks the invocation up from CloudWatch Logs.
    page.locator("#log-view", has_text="dashboard saw {'n': 21}").wait_for()

    page.locator("#environment-table tbody tr").first.wait_for()
    assert "idle" in page.locator("#environment-table").inner_text() or \
        "busy" in page.locator("#environment-table").inner_text()
    page.wait_for_function("() => document.querySelectorAll('#charts .chart canvas').length === 4")
    titles = page.locator("#charts .u-title").all_inner_texts()
    assert titles == ["Invocations", "Errors", "Duration (ms)", "Concurrency"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-function.png"), full_page=True)


def test_server_page(ember: EmberServer, page: Page) -> None:
    page.goto(f"{ember.url}/_ember/#/server")
    page.locator("#sandbox-level", has_text="plain").wait_for()
    assert "NO ISOLATION" in page.locator("#server").inner_text()
    assert DEFAULT_RUNTIME in page.locator("#runtime-table td:first-child").all_inner_texts()
    assert page.locator("#server dd").first.inner_text() == "ready"


def test_server_page_without_a_warning_shows_no_placeholder(server: EmberServer, page: Page) -> None:
    """At a level with no warning (the session server's: the strongest this host allows)."""
    page.goto(f"{server.url}/_ember/#/server")
    page.locator("#runtime-table").wait_for()
    text = page.locator("#server").inner_text()
    assert "null" not in text and "undefined" not in text, text
