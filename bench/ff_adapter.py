"""The Lambda handler served by Google's functions-framework: an HTTP function (Flask request)
that calls it with the JSON body as the event. functions-framework loads this file as its
--source and serves `handler` with its defaults (gunicorn, 1 worker, 4 threads per CPU)."""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _lambda_shim import Context, load_handler  # noqa: E402

_lambda_handler = load_handler()


def handler(request):
    event = request.get_json(silent=True)
    return json.dumps(_lambda_handler(event, Context())), 200, {"Content-Type": "application/json"}
