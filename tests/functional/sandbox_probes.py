"""The functions and snippets the sandbox contract suite runs in environments (test_sandbox_contract.py).

A snippet runs in PROBE (helpers.py), which hands it `event`, `context` and `outcome` and returns its `result`;
the rest are handlers, bootstraps and extensions. None may harm the host should a sandbox fail: see the suite's
docstring.
"""

CONTEXT = '''
result = {"request_id": context.aws_request_id, "function_name": context.function_name,
          "memory": context.memory_limit_in_mb, "remaining_ms": context.get_remaining_time_in_millis(),
          "arn": context.invoked_function_arn}
'''

VARIABLES = '''
import os

def handler(event, context):
    return {name: os.environ.get(name) for name in event["names"]}
'''

READ_HOST_FILES = '''
import os

def read(path):
    with open(path, "rb") as handle:
        return handle.read(64)

result = {
    "shadow": outcome(read, "/etc/shadow"),
    "root": outcome(os.listdir, "/root"),
    "data_dir": outcome(os.listdir, event["data_dir"]),
    "database": outcome(read, event["database"]),
    "other_code_dir": outcome(os.listdir, event["other_code_dir"]),
    "other_code_file": outcome(read, event["other_code_file"]),
    "proc_1_environ": outcome(read, "/proc/1/environ"),
    "server_environ": outcome(read, "/proc/%d/environ" % event["server_pid"]),
    "own_code": outcome(read, os.environ["LAMBDA_TASK_ROOT"] + "/index.py"),
    "etc_passwd": outcome(read, "/etc/passwd"),
}
'''

#: new, uniquely named files only (mode "x"), so even a sandbox that failed could not clobber a host file
WRITE_OUTSIDE_TMP = '''
import os

def create(path):
    with open(path, "x") as handle:
        handle.write("escaped")

def append(path):
    with open(path, "a") as handle:
        handle.write("# escaped")

name = event["name"]
result = {folder: outcome(create, folder + name) for folder in event["folders"] if os.path.isdir(folder)}
result["append /var/task/index.py"] = outcome(append, "/var/task/index.py")
result["mkdir /var/task"] = outcome(os.mkdir, "/var/task/" + name + ".d")
result["chmod /var/task/index.py"] = outcome(os.chmod, "/var/task/index.py", 0o777)
'''

PROCESSES = '''
import os, subprocess

child = subprocess.Popen(["sleep", "30"])
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
result = {
    "pids": sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit()),
    "own_pid": os.getpid(), "child_pid": child.pid,
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "status": {key: status[key].split() for key in event["status_keys"]},
    "signal_host_pid": outcome(os.kill, event["host_pid"], 0),
}
child.kill()
child.wait()
'''
#: the /proc/self/status lines PROCESSES reports (event["status_keys"])
STATUS_KEYS = ("Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")

#: calls the seccomp deny-list and dropped privileges refuse (run only where they are promised)
PRIVILEGED_CALLS = '''
import ctypes, os

os.mkdir(event["mount_point"])  # a fresh empty folder: the only thing a mount that got through could cover
libc = ctypes.CDLL(None, use_errno=True)

def call(function, *args):
    ctypes.set_errno(0)
    return [function(*args), ctypes.get_errno()]

result = {
    "unshare_user": call(libc.unshare, 0x10000000),
    "unshare_net": call(libc.unshare, 0x40000000),
    "mount_tmpfs": call(libc.mount, b"none", event["mount_point"].encode(), b"tmpfs", 0, None),
    "ptrace_traceme": call(libc.ptrace, 0, 0, None, None),
    "setuid_0": outcome(os.setuid, 0),
}
'''

#: refuses to act unless it is in a small pid namespace and not root: a failed sandbox must not hit the host
SANDBOXED = '''
import os
def is_sandboxed():
    return os.getuid() != 0 and len([entry for entry in os.listdir("/proc") if entry.isdigit()]) < 20
'''

KILL_PID_1 = SANDBOXED + '''
import signal
if not is_sandboxed():
    result = "not sandboxed: refused to signal pid 1"
else:
    try:
        os.kill(1, signal.SIGKILL)
        result = "sent"
    except OSError as exc:
        result = type(exc).__name__
'''

#: a child signals every process it may (kill -1 spares the caller itself): the runtime goes down
KILL_EVERYTHING = SANDBOXED + '''
import signal, time

def handler(event, context):
    print("uid", os.getuid(), flush=True)
    if not is_sandboxed():
        return "not sandboxed: refused to signal -1"
    if os.fork() == 0:
        try:
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    time.sleep(5)
    return "still here"
'''

MEMORY_HOG = '''
import time

def handler(event, context):
    chunks = []
    for _ in range(event["mb"] // 10):
        chunks.append(b"\\x01" * (10 * 1024 * 1024))  # written, so resident
        time.sleep(event.get("pause", 0))  # a watchdog samples every 50 ms
    time.sleep(event.get("hold_s", 0))
    return {"held_mb": 10 * len(chunks)}
'''

#: $TMPDIR where the level sets one (plain), else /tmp
TMP_USER = '''
import os, tempfile

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    folder = tempfile.gettempdir()
    if event.get("name"):
        with open(os.path.join(folder, event["name"]), "x") as handle:
            handle.write("kept")
    stat = os.statvfs(folder)
    return {"count": COUNT, "folder": folder, "files": sorted(os.listdir(folder)),
            "size_mb": stat.f_blocks * stat.f_frsize / 2**20}
'''

NETWORK = '''
import os, socket

def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return ["connected"]
    except OSError as exc:
        return [type(exc).__name__, exc.errno]

api_host, api_port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
result = {
    "host_loopback": connect("127.0.0.1", event["port"]),
    "ember": connect("127.0.0.1", event["ember_port"]),
    "host_address": connect(event["host_address"], event["port"]) if event["host_address"] else None,
    "runtime_api": connect(api_host, int(api_port)),
    "runtime_api_variable": os.environ["AWS_LAMBDA_RUNTIME_API"],
    "interfaces": socket.if_nameindex(),
}
'''

#: leaves a setsid() child and a double-forked grandchild behind, both sleeping forever
ESCAPEES = '''
import os, subprocess, time

def handler(event, context):
    subprocess.Popen(["sleep", "1000"], start_new_session=True)
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "1000"])
        os._exit(0)
    os.waitpid(middle, 0)
    time.sleep(event["sleep"])
    return "returned"
'''

#: a busy loop's CPU time / wall time, in the (unthrottled) init and in invokes
BUSY = '''
import os, subprocess, time

def busy(seconds):
    wall, cpu = time.monotonic(), time.process_time()
    while time.monotonic() - wall < seconds:
        pass
    return (time.process_time() - cpu) / (time.monotonic() - wall)

INIT_SHARE = busy(float(os.environ.get("INIT_SECONDS", "0")) or 0.001)

def handler(event, context):
    if event.get("mark"):
        subprocess.Popen(["sleep", "31"])  # carries MARKER: the host finds this environment's processes by it
    return {"init": INIT_SHARE, "invoke": busy(event["seconds"])}
'''

LIMITS = '''
import resource
result = {"nofile": resource.getrlimit(resource.RLIMIT_NOFILE), "core": resource.getrlimit(resource.RLIMIT_CORE)}
'''

NODE_HANDLER = """export const handler = async (event, context) =>
  ({echo: event, taskRoot: process.env.LAMBDA_TASK_ROOT, requestId: context.awsRequestId});
"""
#: a custom runtime's bootstrap in Python: the host's /usr/bin/python3 is visible at every level
CUSTOM_BOOTSTRAP = """#!/usr/bin/python3
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = conn.getresponse()
    event, request_id = json.loads(answer.read()), answer.getheader("Lambda-Runtime-Aws-Request-Id")
    print("custom runtime handling", request_id, flush=True)
    body = json.dumps({"echo": event, "taskRoot": os.environ["LAMBDA_TASK_ROOT"]})
    conn.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body)
    conn.getresponse().read()
"""
#: an extension that only prints what it gets (the plain level's /tmp is the host's)
ECHO_EXTENSION = """#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
ID=$(curl -sS -i -X POST "$API/register" -H "Lambda-Extension-Name: echoer" -d '{"events":["INVOKE","SHUTDOWN"]}' \\
  | grep -i '^Lambda-Extension-Identifier:' | cut -d: -f2 | tr -d ' \\r')
while true; do
  EVENT=$(curl -sS "$API/event/next" -H "Lambda-Extension-Identifier: $ID")
  echo "[echoer] $EVENT"
  case "$EVENT" in *SHUTDOWN*) exit 0 ;; esac
done
"""
