"""What naive local runners do: a fresh Python process per invoke. A bare ASGI app (uvicorn)
takes the request and runs `run_once.py` in a new interpreter, which imports the handler,
calls it once with the event on stdin and prints the result.

The interpreter is this one (the venv's python, by absolute path): a `python3` found on PATH
through a pyenv shim would add a bash script's start-up (~110 ms here) to every invoke.

Usage: python spawn_server.py PORT   (BENCH_TASK_ROOT, BENCH_HANDLER name the handler.)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvicorn

RUNNER = str(Path(__file__).resolve().parent / "run_once.py")


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    process = await asyncio.create_subprocess_exec(
        sys.executable, RUNNER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate(body)
    status, payload = (200, out) if process.returncode == 0 else (502, err[-2000:])
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", lifespan="off",
                access_log=False, log_level="warning", backlog=2048)
