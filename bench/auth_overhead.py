"""What checking who may call costs a warm invoke: a no-op function invoked on one keep-alive
connection, against an Ember in open mode (unsigned, and signed) and an Ember in iam mode (signed
by the root key: signature checked; signed by an IAM user: signature checked and the user's
policies read and evaluated).

Each target's request is signed once before timing and sent again as is (a signature stays good
for 15 minutes), so the timings are the server's work, not the client's signing. The targets run
in alternating rounds, so a drift in the machine's speed hits all of them alike.

Usage: .venv/bin/python bench/auth_overhead.py [--invokes 3000] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json

from _common import Client, Ember, ForeignCpu, invoke_path, machine_line, median, ms, pct, print_table
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Credentials("AKIABENCHBENCHBENCH1", "bench/bench/bench/bench/bench/bench/benc")
FUNCTION = "noop"


def signed(port: int, method: str, path: str, body: bytes, credentials: Credentials, service: str = "lambda",
           extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers of `method path` signed with `credentials`, as botocore signs them."""
    request = AWSRequest(method=method, url=f"http://127.0.0.1:{port}{path}", data=body,
                         headers={"Content-Type": "application/json", **(extra or {})})
    SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def call(client: Client, port: int, credentials: Credentials, service: str, action: str,
         params: dict[str, str]) -> bytes:
    """One signed query-protocol call (IAM), answering its XML; raises unless 200."""
    body = "&".join([f"Action={action}", "Version=2010-05-08", *(f"{k}={v}" for k, v in params.items())]).encode()
    headers = signed(port, "POST", "/", body, credentials, service,
                     {"Content-Type": "application/x-www-form-urlencoded"})
    status, _, answer = client.request("POST", "/", body, headers)
    if status != 200:
        raise RuntimeError(f"{action} answered {status}: {answer[:300]!r}")
    return answer


def user_credentials(ember: Ember) -> Credentials:
    """An IAM user whose one inline policy allows invoking functions, and its access key."""
    client = ember.client
    call(client, ember.port, ROOT, "iam", "CreateUser", {"UserName": "bench"})
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]})
    from urllib.parse import quote
    call(client, ember.port, ROOT, "iam", "PutUserPolicy",
         {"UserName": "bench", "PolicyName": "invoke", "PolicyDocument": quote(policy, safe="")})
    answer = call(client, ember.port, ROOT, "iam", "CreateAccessKey", {"UserName": "bench"}).decode()
    key_id = answer.split("<AccessKeyId>")[1].split("<")[0]
    secret = answer.split("<SecretAccessKey>")[1].split("<")[0]
    return Credentials(key_id, secret)


def create_function(ember: Ember, credentials: Credentials | None) -> None:
    if credentials is None:
        ember.create_function(FUNCTION, "noop")
        return
    import base64
    import io
    import zipfile

    from _common import HANDLERS, ROLE, RUNTIME
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("index.py", HANDLERS["noop"])
    body = json.dumps({"FunctionName": FUNCTION, "Runtime": RUNTIME, "Handler": "index.handler", "Role": ROLE,
                       "Code": {"ZipFile": base64.b64encode(package.getvalue()).decode()}}).encode()
    status, _, answer = ember.client.request("POST", "/2015-03-31/functions", body,
                                             signed(ember.port, "POST", "/2015-03-31/functions", body, credentials))
    if status != 201:
        raise RuntimeError(f"CreateFunction answered {status}: {answer[:300]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invokes", type=int, default=3000, help="timed invokes per target")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    print(machine_line())
    print(f"auth overhead: 1 client (keep-alive), {args.invokes} warm invokes of a no-op per target in "
          f"{args.rounds} alternating rounds after {args.warmup} warm-up invokes", flush=True)
    open_ember = Ember(env={"EMBER_AUTH": "open"}).start()
    iam_ember = Ember(env={"EMBER_AUTH": "iam", "EMBER_ROOT_ACCESS_KEY_ID": ROOT.access_key,
                           "EMBER_ROOT_SECRET_ACCESS_KEY": ROOT.secret_key}).start()
    try:
        create_function(open_ember, None)
        create_function(iam_ember, ROOT)
        user = user_credentials(iam_ember)
        path, body = invoke_path(FUNCTION), b"{}"
        # (title, server, headers of the one request replayed)
        targets = [
            ("open, unsigned", open_ember, {}),
            ("open, signed (not checked)", open_ember, signed(open_ember.port, "POST", path, body, ROOT)),
            ("iam, root key (signature checked)", iam_ember, signed(iam_ember.port, "POST", path, body, ROOT)),
            ("iam, IAM user (signature + policies)", iam_ember, signed(iam_ember.port, "POST", path, body, user)),
        ]
        with ForeignCpu() as foreign:
            start = len(foreign.samples)
            clients = [Client(server.port) for _, server, _ in targets]
            samples: list[list[float]] = [[] for _ in targets]
            for client, (_, _, headers) in zip(clients, targets, strict=True):
                for _ in range(args.warmup):
                    client.invoke_with_headers(FUNCTION, body, headers)
            for _ in range(args.rounds):
                for index, (client, (_, _, headers)) in enumerate(zip(clients, targets, strict=True)):
                    samples[index] += [client.invoke_with_headers(FUNCTION, body, headers)[0]
                                       for _ in range(args.invokes // args.rounds)]
            for client in clients:
                client.close()
            noise = foreign.summary(start)
    finally:
        open_ember.stop()
        iam_ember.stop()
    base = median(samples[0])
    rows = [[title, len(xs), ms(median(xs), 3), ms(pct(xs, 90), 3), ms(pct(xs, 99), 3),
             ms(median(xs) - base, 3) if index else "-"]
            for index, ((title, _, _), xs) in enumerate(zip(targets, samples, strict=True))]
    headers = ["target", "invokes", "p50 ms", "p90 ms", "p99 ms", "p50 over unsigned ms"]
    print_table("warm invoke latency by auth", headers, rows, [f"foreign CPU during the run: {noise}",
                       "each target replays one request signed before timing: the server's work alone"])


if __name__ == "__main__":
    main()
