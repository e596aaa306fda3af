"""GET /_ember/code/<sha256>.zip?Expires=...&Signature=...: where GetFunction's Code.Location and
GetLayerVersion's Content.Location point.

The URL is presigned (see iam.presigned_urls) and lasts as long as the server's code URL lifetime
(10 minutes, as AWS's). Without a genuine, unexpired signature the answer is S3's for a presigned
URL it refuses, in either auth mode: 403 with an XML `<Error>` — `AccessDenied` ("Access Denied")
for a URL without its parameters, `SignatureDoesNotMatch` for an altered digest, expiry or
signature, `AccessDenied` ("Request has expired", with `Expires` and `ServerTime`) for a genuine
URL whose time is up. Only a genuine URL learns whether the code exists (404 `NoSuchKey`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from ember.blobs.base import BlobNotFoundError
from ember.iam.presigned_urls import EXPIRES_PARAM, PresignFailure
from ember.lambda_.backend import LambdaBackend, code_resource
from ember.protocol import HttpRequest, HttpResponse
from ember.protocol.xml_text import xml_text
from ember.services.base import InternalRoute

CODE_PATH = re.compile(r"^/_ember/code/(?P<digest>[0-9a-f]{64})\.zip$")

#: S3's codes and messages for a presigned GET it refuses
_REFUSALS = {
    PresignFailure.MISSING: ("AccessDenied", "Access Denied"),
    PresignFailure.MALFORMED: ("AccessDenied", "Query-string authentication requires the Signature and Expires "
                                               "parameters, each given once, Expires in whole seconds"),
    PresignFailure.SIGNATURE_MISMATCH: ("SignatureDoesNotMatch", "The request signature we calculated does not "
                                        "match the signature you provided. Check your key and signing method."),
    PresignFailure.EXPIRED: ("AccessDenied", "Request has expired"),
}


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _s3_error(status: int, code: str, message: str, **details: str) -> HttpResponse:
    elements = "".join(f"<{name}>{xml_text(value)}</{name}>" for name, value in
                       {"Code": code, "Message": message, **details}.items())
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{elements}</Error>'.encode()
    return HttpResponse(status, [("content-type", "application/xml")], body)


def code_download_route(backend: LambdaBackend) -> InternalRoute:
    async def download(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        digest = match["digest"]
        failure = backend.code_urls.check(code_resource(digest), request.query)
        if failure is PresignFailure.EXPIRED:
            expires = next(value for name, value in request.query if name == EXPIRES_PARAM)
            code, message = _REFUSALS[failure]
            return _s3_error(403, code, message, Expires=_iso(int(expires)), ServerTime=_iso(backend.clock.time_s()))
        if failure is not None:
            return _s3_error(403, *_REFUSALS[failure])
        try:
            data = await asyncio.to_thread(backend.blobs.read, digest)
        except BlobNotFoundError:  # never stored, or collected once nothing used it
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return HttpResponse(200, [("content-type", "application/zip"),
                                  ("content-disposition", f'attachment; filename="{digest}.zip"')], data)

    return ("GET", CODE_PATH, download)
