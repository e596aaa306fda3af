"""What Ember's benchmarks share: the functions, starting Ember and the baselines, an HTTP
client, statistics, memory readings, wrk, and the tables they print.

Every target is invoked the same way: `POST /2015-03-31/functions/NAME/invocations` with a JSON
body over plain HTTP/1.1 (Ember accepts unsigned requests; the baselines ignore the path).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python")
EMBER = str(VENV_BIN / "ember")
FUNCTIONS_FRAMEWORK = str(VENV_BIN / "functions-framework")
#: the runtime of every benchmark function: the same interpreter (3.11) the baselines run on
RUNTIME = "python3.11"
ROLE = "arn:aws:iam::000000000000:role/bench"

HANDLERS = {
    "noop": "def handler(event, context):\n    return {'ok': True}\n",
    "boto3": ("import boto3\n\nclient = boto3.client('s3', region_name='us-east-1')\n\n\n"
              "def handler(event, context):\n    return {'ok': True}\n"),
    "warmup": "# warm-up\ndef handler(event, context):\n    return {'ok': True}\n",
    "sleep": "import time\n\n\ndef handler(event, context):\n    time.sleep(0.5)\n    return {'ok': True}\n",
}
HANDLER_TITLES = {"noop": "no-op", "boto3": "boto3 + client", "sleep": "sleep 0.5 s"}
BASELINE_TITLES = {
    "floor": "floor: in-process, bare ASGI (uvicorn)",
    "ff": "functions-framework 3.10 (gunicorn)",
    "spawn": "fresh python process per invoke",
}


def invoke_path(name: str) -> str:
    return f"/2015-03-31/functions/{name}/invocations"


# Machine and noise -----------------------------------------------------------------------


def machine_line() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    return (f"machine: {os.cpu_count()} vCPU {model}, kernel {platform.release()}, Python {platform.python_version()}"
            f"; load average {' '.join(load)}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; Ember {ember_revision()}")


def ember_revision() -> str:
    """The commit Ember runs from, and whether ember/ has uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "ember"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "(revision unknown)"
    return f"{head or '?'}{' + uncommitted changes in ember/' if dirty else ''}"


class CpuMonitor:
    """CPU used by the whole machine over an interval, in vCPUs (from /proc/stat), so a run
    taken while something else was busy can be told apart."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[float, float]:
        fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    def busy_vcpus(self) -> float:
        total, idle = self._read()
        d_total, d_idle = total - self._start[0], idle - self._start[1]
        return (os.cpu_count() or 1) * (1 - d_idle / d_total) if d_total else 0.0


def _cpu_ticks() -> dict[int, tuple[int, int]]:
    """pid → (ppid, utime+stime ticks) for every process (kernel threads left out)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            if ppid == 2 or int(entry.name) == 2:
                continue
            found[int(entry.name)] = (ppid, int(fields[11]) + int(fields[12]))
    return found


def tree_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by process `pid` itself, and by its live descendants
    (processes that have exited are not counted)."""
    hz = os.sysconf("SC_CLK_TCK")
    table = _cpu_ticks()
    tree = descendants(pid)
    own = table.get(pid, (0, 0))[1]
    others = sum(table[p][1] for p in tree if p != pid and p in table)
    return own / hz, others / hz


class ForeignCpu:
    """Samples, every `interval_s`, the CPU used by processes that are not this benchmark's
    (not descendants of this process; kernel threads not counted), in vCPUs. The machine is
    shared: numbers taken while something else ran are flagged."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _mine(self, table: dict[int, tuple[int, int]]) -> set[int]:
        kids: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            kids.setdefault(ppid, []).append(pid)
        mine, queue = set(), [os.getpid()]
        while queue:
            pid = queue.pop()
            mine.add(pid)
            queue += kids.get(pid, [])
        return mine

    def _run(self) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        previous = _cpu_ticks()
        while not self._stop.wait(self.interval_s):
            current = _cpu_ticks()
            mine = self._mine(current)
            ticks = sum(t - previous[pid][1] if pid in previous else 0
                        for pid, (_, t) in current.items() if pid not in mine)
            self.samples.append(ticks / hz / self.interval_s)
            previous = current

    def __enter__(self) -> ForeignCpu:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def mean(self, since: int = 0) -> float:
        window = self.samples[since:]
        return sum(window) / len(window) if window else 0.0

    def summary(self, since: int = 0) -> str:
        window = self.samples[since:]
        if not window:
            return "foreign CPU: not sampled"
        busy = sum(1 for x in window if x > 0.5)
        return (f"foreign CPU (other processes on this machine, sampled every {self.interval_s} s) mean "
                f"{self.mean(since):.2f} vCPU, max {max(window):.2f}, >0.5 vCPU in {busy}/{len(window)} samples")

    def wait_quiet(self, below: float = 0.3, for_s: float = 5.0, timeout_s: float = 300.0) -> bool:
        """Wait until other processes have used < `below` vCPU on average for `for_s` seconds."""
        needed = max(1, int(for_s / self.interval_s))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(self.interval_s)
            window = self.samples[-needed:]
            if len(window) == needed and sum(window) / needed < below:
                return True
        print(f"warning: the machine did not get quiet within {timeout_s:.0f} s ({self.summary(-needed)}); "
              "going on anyway", flush=True)
        return False


# Statistics -----------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def ms(seconds: float, digits: int = 2) -> str:
    return "-" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:.{digits}f}"


# Tables ---------------------------------------------------------------------------------


def print_table(title: str, headers: list[str], rows: list[list[object]], notes: list[str] = ()) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(f"\n## {title}\n")
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in cells:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        print(" | ".join(padded))
    for note in notes:
        print(f"  * {note}")
    sys.stdout.flush()


def verdict(value: float, limit: float, unit: str, higher_is_better: bool = False) -> str:
    """'met' or 'missed by X' against a target."""
    if value is None or math.isnan(value):
        return "not measured"
    def number(x: float) -> str:
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"

    if higher_is_better:
        return "met" if value >= limit else f"missed by {number(limit - value)} {unit} ({value / limit:.2f}x)"
    return "met" if value <= limit else f"missed by {number(value - limit)} {unit} ({value / limit:.1f}x)"


# HTTP -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Client:
    """One keep-alive HTTP/1.1 connection (reopened if the server closes it)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json", **(headers or {})}
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body, headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.close()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, data
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def invoke(self, name: str, payload: bytes = b"{}") -> float:
        """Seconds one invoke took, client-observed; raises unless it answered 200."""
        return self.invoke_with_headers(name, payload)[0]

    def invoke_with_headers(self, name: str, payload: bytes = b"{}",
                            headers: dict[str, str] | None = None) -> tuple[float, dict[str, str]]:
        started = time.perf_counter()
        status, response_headers, body = self.request("POST", invoke_path(name), payload, headers)
        elapsed = time.perf_counter() - started
        if status != 200 or "x-amz-function-error" in response_headers:
            raise RuntimeError(f"invoke {name} answered {status}: {body[:300]!r}")
        return elapsed, response_headers

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Outcome:
    status: int  #: HTTP status, or 0 when the connection failed
    started: float  #: perf_counter when the request was sent
    ended: float
    body: bytes = b""


def concurrent_invokes(port: int, name: str, clients: int, per_client: int = 1,
                       timeout_s: float = 120.0) -> tuple[float, list[Outcome]]:
    """`clients` threads, each with its own connection (opened first), released together by a
    barrier, each sending `per_client` invokes in sequence. Returns the release time
    (perf_counter) and every invoke's outcome; a 429 or any other status is recorded, not raised."""
    barrier = threading.Barrier(clients + 1)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def work() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        conn.connect()
        barrier.wait()
        for _ in range(per_client):
            started = time.perf_counter()
            try:
                conn.request("POST", invoke_path(name), b"{}", {"Content-Type": "application/json"})
                response = conn.getresponse()
                outcome = Outcome(response.status, started, 0.0, response.read())
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                outcome = Outcome(0, started, 0.0, repr(exc).encode())
            outcome.ended = time.perf_counter()
            with lock:
                outcomes.append(outcome)
        conn.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    released = time.perf_counter()
    for thread in threads:
        thread.join(timeout_s * per_client + 10)
    return released, outcomes


def first_response_after_spawn(port: int, started: float, deadline_s: float = 60.0) -> float:
    """Poll until a server that was spawned at `started` (perf_counter) answers an invoke;
    the seconds from the spawn to that answer (connection attempts every 1 ms)."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=deadline_s) as sock:
                request = (f"POST {invoke_path('bench')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                sock.sendall(request.encode())
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
            elapsed = time.perf_counter() - started
            if not reply.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"first invoke answered {reply[:200]!r}")
            return elapsed
        except ConnectionRefusedError:
            if time.perf_counter() - started > deadline_s:
                raise
            time.sleep(0.001)


# Processes ------------------------------------------------------------------------------


class Server:
    """A server process this benchmark started (in its own session), stopped on exit."""

    def __init__(self, argv: list[str], port: int, env: dict[str, str] | None = None,
                 log_path: Path | None = None, cwd: Path | None = None) -> None:
        self.argv, self.port = argv, port
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Server:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.started = time.perf_counter()
        self.process = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, cwd=self.cwd, start_new_session=True)
        if log is not subprocess.DEVNULL:
            log.close()
        return self

    def wait_ready(self, path: str = "/", timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.argv[:3]} exited with {self.process.returncode}{self._log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", path)
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"{self.argv[:3]} not ready after {timeout_s} s{self._log_tail()}")

    def _log_tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return "\n" + self.log_path.read_text(errors="replace")[-3000:]
        return ""

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # the session this benchmark started
            self.process.wait(10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def handler_dir(root: Path, kind: str) -> Path:
    """A folder holding `index.py` with the `kind` handler (for the baselines)."""
    folder = root / f"handler-{kind}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.py").write_text(HANDLERS[kind])
    return folder


def baseline(kind: str, handler: str, root: Path, port: int | None = None, threaded: bool = False) -> Server:
    """A baseline server (not started): 'floor', 'ff' (functions-framework) or 'spawn'."""
    port = port or free_port()
    env = {"BENCH_TASK_ROOT": str(handler_dir(root, handler)), "BENCH_HANDLER": "index.handler",
           "BENCH_THREADED": "1" if threaded else "0", "AWS_DEFAULT_REGION": "us-east-1"}
    if kind == "floor":
        argv = [PYTHON, str(BENCH_DIR / "floor_server.py"), str(port)]
    elif kind == "spawn":
        argv = [PYTHON, str(BENCH_DIR / "spawn_server.py"), str(port)]
    elif kind == "ff":
        argv = [FUNCTIONS_FRAMEWORK, "--target", "handler", "--source", str(BENCH_DIR / "ff_adapter.py"),
                "--host", "127.0.0.1", "--port", str(port)]
    else:
        raise ValueError(kind)
    return Server(argv, port, env, root / f"{kind}-{handler}-{port}.log")


class Ember(Server):
    """A real `ember serve` on a free loopback port with a temporary data dir."""

    def __init__(self, env: dict[str, str] | None = None, keep_alive_s: float = 300.0, sandbox: str = "auto") -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="ember-bench-"))
        port = free_port()
        argv = [EMBER, "serve", "--port", str(port), "--data-dir", str(self.data_dir / "data"),
                "--keep-alive", str(keep_alive_s), "--sandbox", sandbox,
                "--log-level", os.environ.get("BENCH_EMBER_LOG_LEVEL", "warning")]
        super().__init__(argv, port, {"EMBER_SHUTDOWN_GRACE_S": "1", **(env or {})}, self.data_dir / "serve.log")
        self.client = Client(port)
        self.health: dict = {}

    def start(self) -> Ember:
        super().start()
        self.wait_ready("/_ember/health")
        _, _, body = self.client.request("GET", "/_ember/health")
        self.health = json.loads(body)
        return self

    @property
    def sandbox_level(self) -> str:
        return self.health.get("sandbox", {}).get("level", "?")

    def create_function(self, name: str, handler: str, memory_mb: int = 128, timeout_s: int = 30) -> None:
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("index.py", HANDLERS[handler])
        document = {"FunctionName": name, "Runtime": RUNTIME, "Handler": "index.handler", "Role": ROLE,
                    "MemorySize": memory_mb, "Timeout": timeout_s,
                    "Code": {"ZipFile": base64.b64encode(package.getvalue()).decode()}}
        status, _, body = self.client.request("POST", "/2015-03-31/functions", json.dumps(document).encode())
        if status != 201:
            raise RuntimeError(f"CreateFunction {name} answered {status}: {body[:300]!r}")
        deadline = time.monotonic() + 30
        while json.loads(body).get("State", "Active") != "Active":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not become Active")
            time.sleep(0.05)
            _, _, body = self.client.request("GET", f"/2015-03-31/functions/{name}/configuration")

    def stop(self, timeout_s: float = 60.0) -> None:
        self.client.close()
        super().stop(timeout_s)
        shutil.rmtree(self.data_dir, ignore_errors=True)


# Memory ---------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    result = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                result += [int(x) for x in (task / "children").read_text().split()]
    return result


def descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue += children(current)
    return found


@dataclass
class Memory:
    """Sums over processes, in KiB: USS = Private_Clean + Private_Dirty; PSS; RSS."""

    uss_kb: int = 0
    pss_kb: int = 0
    rss_kb: int = 0
    pids: list[int] = field(default_factory=list)

    def add(self, other: Memory) -> Memory:
        return Memory(self.uss_kb + other.uss_kb, self.pss_kb + other.pss_kb, self.rss_kb + other.rss_kb,
                      self.pids + other.pids)


def memory_of(pids: list[int]) -> Memory:
    total = Memory()
    for pid in pids:
        values: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
                key, _, rest = line.partition(":")
                values[key.strip()] = int(rest.split()[0])
        total = total.add(Memory(values.get("Private_Clean", 0) + values.get("Private_Dirty", 0),
                                 values.get("Pss", 0), values.get("Rss", 0), [pid]))
    return total


def mib(kb: int) -> str:
    return f"{kb / 1024:.1f}"


# wrk ------------------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    """wrk's path; installs Debian's wrk when running as root without it; None if unavailable."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, env=env)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, env=env)
    return shutil.which("wrk")


#: POST {} on keep-alive connections; counts responses by status and prints them at the end
WRK_POST_LUA = """
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do io.write(string.format("status %d %d\\n", status, count)) end
  end
end
"""


@dataclass
class WrkResult:
    requests_per_s: float
    p50_s: float
    p99_s: float
    requests: int
    non_2xx: int
    socket_errors: int
    text: str
    statuses: dict[int, int] = field(default_factory=dict)


def _duration_s(text: str) -> float:
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
    for unit in ("us", "ms", "s", "m"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    return math.nan


def run_wrk(wrk: str, port: int, path: str, connections: int, seconds: float, threads: int = 1,
            timeout_s: int = 10) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_POST_LUA)
    try:
        argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"--timeout={timeout_s}s",
                "--latency", "-s", script.name, f"http://127.0.0.1:{port}{path}"]
        text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    rps, p50, p99, requests, non_2xx, errors = math.nan, math.nan, math.nan, 0, 0, 0
    statuses: dict[int, int] = {}
    for raw in text.splitlines():
        line = raw.strip()
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif line.startswith("50%"):
            p50 = _duration_s(parts[1])
        elif line.startswith("99%"):
            p99 = _duration_s(parts[1])
        elif "requests in" in line:
            requests = int(parts[0])
        elif line.startswith("Non-2xx"):
            non_2xx = int(parts[-1])
        elif line.startswith("Socket errors:"):
            errors = sum(int(x.strip(",")) for x in parts if x.strip(",").isdigit())
        elif line.startswith("status ") and len(parts) == 3:
            statuses[int(parts[1])] = statuses.get(int(parts[1]), 0) + int(parts[2])
    return WrkResult(rps, p50, p99, requests, non_2xx, errors, text, statuses)


# All targets at once --------------------------------------------------------------------


@dataclass
class Target:
    title: str
    port: int
    function: str  #: the name in the invoke path (the baselines ignore it)
    kind: str  #: "ember", "floor", "ff" or "spawn"
    server: Server | None = None


@contextlib.contextmanager
def running_targets(root: Path, handler: str, memory_sizes: tuple[int, ...], kinds: tuple[str, ...] = (
        "ember", "floor", "ff", "spawn"), ember_env: dict[str, str] | None = None, threaded: bool = False):
    """Ember (one function of `handler` per memory size) and the baselines, started and ready."""
    servers: list[Server] = []
    targets: list[Target] = []
    try:
        if "ember" in kinds:
            ember = Ember(ember_env)
            servers.append(ember)
            ember.start()
            for memory_mb in memory_sizes:
                name = f"{handler}-{memory_mb}mb"
                ember.create_function(name, handler, memory_mb=memory_mb)
                targets.append(Target(f"Ember ({ember.sandbox_level}), MemorySize {memory_mb}", ember.port, name,
                                      "ember", ember))
        for kind in kinds:
            if kind == "ember":
                continue
            server = baseline(kind, handler, root, threaded=threaded)
            servers.append(server)
            server.start()
            server.wait_ready()
            targets.append(Target(BASELINE_TITLES[kind], server.port, "bench", kind, server))
        yield targets
    finally:
        for server in reversed(servers):
            server.stop()
