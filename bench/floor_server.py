"""The floor: a Lambda handler called in-process behind a bare ASGI app on uvicorn (uvloop and
httptools, as Ember's edge uses). No routing, no validation, no sandbox: what is left of an
invoke when everything Ember adds is taken away.

Usage: python floor_server.py PORT   (BENCH_TASK_ROOT, BENCH_HANDLER name the handler;
BENCH_THREADED=1 runs each call in a thread pool, so blocking handlers overlap.)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import uvicorn
from _lambda_shim import Context, load_handler

HANDLER = load_handler()  # imported before the server listens, as functions-framework does
POOL = ThreadPoolExecutor(max_workers=256) if os.environ.get("BENCH_THREADED") == "1" else None


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    event = json.loads(body) if body else None
    if POOL is None:
        result = HANDLER(event, Context())
    else:
        result = await asyncio.get_running_loop().run_in_executor(POOL, HANDLER, event, Context())
    payload = json.dumps(result).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", lifespan="off",
                access_log=False, log_level="warning", backlog=2048)
