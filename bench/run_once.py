"""One invoke in a fresh process: read the event on stdin, call the handler, print the result.
Started by spawn_server.py for every request."""

from __future__ import annotations

import json
import sys

from _lambda_shim import Context, load_handler

event = json.loads(sys.stdin.buffer.read() or b"null")
sys.stdout.write(json.dumps(load_handler()(event, Context())))
