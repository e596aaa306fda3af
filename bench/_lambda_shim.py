"""How the baselines call a Lambda handler: load `module.function` from a folder, give it an event
and a minimal context. Stdlib only (it runs in every baseline process, including the
process-per-invoke runner, where each import is paid on every invoke)."""

from __future__ import annotations

import importlib
import os
import sys
import uuid


class Context:
    """The attributes of Lambda's context object that a handler commonly reads."""

    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    memory_limit_in_mb = 128
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 3000


def load_handler(task_root: str | None = None, handler: str | None = None):
    """The handler named by `handler` ("index.handler") in `task_root`; both default to the
    BENCH_TASK_ROOT / BENCH_HANDLER environment variables the benchmarks set."""
    task_root = task_root or os.environ["BENCH_TASK_ROOT"]
    handler = handler or os.environ.get("BENCH_HANDLER", "index.handler")
    module_name, _, function_name = handler.rpartition(".")
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    return getattr(importlib.import_module(module_name), function_name)
