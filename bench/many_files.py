"""CreateFunction with a package of 100,000 small files (a vendored dependency tree), against the
floor of unpacking the same zip: Python's `zipfile.extractall` into a fresh folder on the same disk,
in the same run. The SDK's default read timeout is 60 s: creation must stay well inside it.

Usage: .venv/bin/python bench/many_files.py [--files 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import shutil
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from _common import RUNTIME, Ember, machine_line, print_table


def package(files: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
        for number in range(files):
            archive.writestr(f"pkg/d{number // 1000}/f{number}.py", f"VALUE = {number}\n")
    return buffer.getvalue()


def extract_floor(data: bytes, scratch: Path) -> float:
    target = Path(tempfile.mkdtemp(dir=scratch))
    started = time.perf_counter()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(target)
    elapsed = time.perf_counter() - started
    shutil.rmtree(target)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    data = package(args.files)
    ember = Ember().start()
    try:
        creates, floors = [], []
        for run in range(args.runs):
            document = {"FunctionName": f"many-{run}", "Runtime": RUNTIME, "Handler": "index.handler",
                        "Role": "arn:aws:iam::000000000000:role/bench",
                        "Code": {"ZipFile": base64.b64encode(data).decode()}}
            started = time.perf_counter()
            status, _, body = ember.client.request("POST", "/2015-03-31/functions", json.dumps(document).encode())
            creates.append(time.perf_counter() - started)
            if status != 201:
                raise RuntimeError(f"CreateFunction answered {status}: {body[:300]!r}")
            floors.append(extract_floor(data, ember.data_dir))
        rows = [["Ember CreateFunction", f"{statistics.median(creates):.1f}", f"{max(creates):.1f}"],
                ["floor: zipfile.extractall", f"{statistics.median(floors):.1f}", f"{max(floors):.1f}"]]
        print_table(f"A package of {args.files:,} files ({len(data) / 1e6:.1f} MB zipped), {args.runs} runs",
                    ["", "median s", "max s"], rows,
                    ["CreateFunction checks the zip, stores it (fsynced) and unpacks it before answering 201",
                     "the SDK's default read timeout is 60 s"])
    finally:
        ember.stop()


if __name__ == "__main__":
    main()
