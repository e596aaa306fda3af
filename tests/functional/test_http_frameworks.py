"""Web frameworks users already run on Lambda, behind function URLs: a FastAPI app through Mangum, and a Powertools
LambdaFunctionUrlResolver app. Their packages (pinned in the test extra) reach the functions as a layer built from
this venv's site-packages, as users ship dependencies; requests are plain HTTP."""

from __future__ import annotations

import importlib.metadata
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.functional.conftest import EmberServer, functions_on
from tests.functional.helpers import send_to_function_url as send
from tests.functional.sandbox_levels import distributions_needed

FASTAPI_APP = """
from fastapi import FastAPI, Response
from mangum import Mangum
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    price: float


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}


@app.post("/items", status_code=201)
def create_item(item: Item, response: Response):
    response.set_cookie("last", item.name)
    return {"created": item.name, "price": item.price}


handler = Mangum(app, lifespan="off")
"""

POWERTOOLS_APP = """
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

app = LambdaFunctionUrlResolver()


@app.get("/hello/<name>")
def hello(name: str):
    return {"hello": name, "lang": app.current_event.get_query_string_value("lang", "en")}


@app.post("/echo")
def echo():
    return Response(status_code=202, content_type="text/plain", body=app.current_event.body)


def handler(event, context):
    return app.resolve(event, context)
"""


def layer_of(*distributions: str) -> bytes:
    """The distributions and what they require, from this venv, as a Python layer (python/...)."""
    names: set[str] = set()
    for name in distributions:
        distributions_needed(name, names)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name in sorted(names):
            distribution = importlib.metadata.distribution(name)
            for relative in distribution.files or []:
                source = Path(str(distribution.locate_file(relative)))
                if relative.parts[0] == ".." or "__pycache__" in relative.parts or not source.is_file():
                    continue
                archive.write(source, f"python/{relative}")
    return buffer.getvalue()


@pytest.fixture
def app_url(server: EmberServer, frameworks_layer: str) -> Iterator[Callable[[str], str]]:
    """app_url(code): the function URL of a new function running `code` with the frameworks' layer."""
    client = server.lambda_client()
    with functions_on(client, server.runtime) as make:
        def deploy(code: str) -> str:
            name = make(code, Layers=[frameworks_layer], Timeout=60, MemorySize=256)
            return str(client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"])

        yield deploy


@pytest.fixture(scope="module")
def frameworks_layer(server: EmberServer) -> Iterator[str]:
    client = server.lambda_client()
    layer = client.publish_layer_version(LayerName="web-frameworks", CompatibleRuntimes=[server.runtime],
                                         Content={"ZipFile": layer_of("fastapi", "mangum", "aws-lambda-powertools")})
    yield layer["LayerVersionArn"]
    client.delete_layer_version(LayerName="web-frameworks", VersionNumber=layer["Version"])


def test_a_fastapi_app_behind_mangum(server: EmberServer, app_url) -> None:
    url = app_url(FASTAPI_APP)
    status, headers, body = send(server, "GET", f"{url}items/42?q=shoes")
    assert (status, json.loads(body)) == (200, {"item_id": 42, "q": "shoes"})
    assert headers["content-type"] == ["application/json"]
    status, headers, body = send(server, "POST", f"{url}items", json.dumps({"name": "hat", "price": 9.5}).encode(),
                                 {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (201, {"created": "hat", "price": 9.5})
    assert any(cookie.startswith("last=hat") for cookie in headers["set-cookie"])
    status, _, body = send(server, "GET", f"{url}items/not-a-number")  # FastAPI's own validation
    assert status == 422 and json.loads(body)["detail"][0]["loc"] == ["path", "item_id"]
    assert send(server, "GET", f"{url}nowhere", path_form=True)[0] == 404


def test_a_powertools_function_url_resolver(server: EmberServer, app_url) -> None:
    url = app_url(POWERTOOLS_APP)
    status, _, body = send(server, "GET", f"{url}hello/jane?lang=fr")
    assert (status, json.loads(body)) == (200, {"hello": "jane", "lang": "fr"})
    status, headers, body = send(server, "POST", f"{url}echo", b"plain words", {"Content-Type": "text/plain"},
                                 path_form=True)
    assert (status, body, headers["content-type"]) == (202, b"plain words", ["text/plain"])
    assert send(server, "GET", f"{url}missing")[0] == 404
