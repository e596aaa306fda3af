"""Lambda metrics through the CloudWatch API (boto3) and /metrics (Prometheus), after a known mix of
successes, function errors and throttles. Runs on a plain-level server, like test_logs."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator

import pytest
import urllib3
from botocore.exceptions import ClientError

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, make_zip, unique_name

HANDLER = '''
import time

def handler(event, context):
    time.sleep(event.get("sleep_ms", 0) / 1000)
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"ok": True}
'''
SUCCESSES, ERRORS, THROTTLES, ALIAS_INVOKES = 4, 2, 3, 2
SLEEPS_MS = [5, 10, 20, 40, 80, 160]


@pytest.fixture(scope="module")
def ember(plain_server: EmberServer) -> EmberServer:
    return plain_server


@pytest.fixture(scope="module")
def cloudwatch(ember: EmberServer):
    return ember.client("cloudwatch")


@pytest.fixture(scope="module")
def mixed(ember: EmberServer) -> Iterator[str]:
    """A function invoked SUCCESSES + ERRORS times (plus ALIAS_INVOKES through alias `live`), then
    throttled THROTTLES times with reserved concurrency 0."""
    lambda_ = ember.client("lambda")
    name = unique_name("metrics")
    lambda_.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.py": HANDLER})})
    for index, sleep_ms in enumerate(SLEEPS_MS):
        event = {"sleep_ms": sleep_ms, "fail": index >= SUCCESSES}
        response = lambda_.invoke(FunctionName=name, Payload=json.dumps(event))
        assert ("FunctionError" in response) == (index >= SUCCESSES)
    version = lambda_.publish_version(FunctionName=name)["Version"]
    lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    for _ in range(ALIAS_INVOKES):
        lambda_.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for _ in range(THROTTLES):
        with pytest.raises(lambda_.exceptions.TooManyRequestsException):
            lambda_.invoke(FunctionName=name, Payload=b"{}")
    yield name
    lambda_.delete_function(FunctionName=name)


def window() -> dict[str, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return {"StartTime": now - dt.timedelta(minutes=10), "EndTime": now + dt.timedelta(minutes=2)}


def statistics(cloudwatch, metric: str, dimensions: dict[str, str], **kwargs: object) -> list[dict]:
    return cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric, Period=60, **window(),
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()], **kwargs)["Datapoints"]


def total(cloudwatch, metric: str, dimensions: dict[str, str]) -> float:
    return sum(point["Sum"] for point in statistics(cloudwatch, metric, dimensions, Statistics=["Sum"]))


def test_counts_match_the_mix(cloudwatch, mixed: str) -> None:
    by_function = {"FunctionName": mixed}
    invocations = SUCCESSES + ERRORS + ALIAS_INVOKES
    assert total(cloudwatch, "Invocations", by_function) == invocations
    assert total(cloudwatch, "Errors", by_function) == ERRORS
    assert total(cloudwatch, "Throttles", by_function) == THROTTLES
    points = statistics(cloudwatch, "Invocations", by_function, Statistics=["Sum"])
    assert all(point["Unit"] == "Count" for point in points)
    # Another function's numbers are its own.
    assert statistics(cloudwatch, "Invocations", {"FunctionName": unique_name("none")}, Statistics=["Sum"]) == []


def test_duration_statistics_and_percentiles(cloudwatch, mixed: str) -> None:
    points = statistics(cloudwatch, "Duration", {"FunctionName": mixed},
                        Statistics=["SampleCount", "Average", "Minimum", "Maximum"])
    assert sum(p["SampleCount"] for p in points) == SUCCESSES + ERRORS + ALIAS_INVOKES
    assert all(p["Unit"] == "Milliseconds" for p in points)
    assert max(p["Maximum"] for p in points) >= 160  # the longest sleep
    assert min(p["Minimum"] for p in points) < 160
    percentiles = statistics(cloudwatch, "Duration", {"FunctionName": mixed},
                             ExtendedStatistics=["p50", "p90", "p99"])
    for point in percentiles:
        values = point["ExtendedStatistics"]
        assert values["p50"] <= values["p90"] <= values["p99"]
    assert max(p["ExtendedStatistics"]["p99"] for p in percentiles) >= 160 * 0.99

    data = cloudwatch.get_metric_data(**window(), MetricDataQueries=[
        {"Id": "p99", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Duration",
                                                "Dimensions": [{"Name": "FunctionName", "Value": mixed}]},
                                     "Period": 900, "Stat": "p99"}},
        {"Id": "errors", "Label": "failures", "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors",
                       "Dimensions": [{"Name": "FunctionName", "Value": mixed}]},
            "Period": 60, "Stat": "Sum"}},
        {"Id": "hidden", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}},
    ])["MetricDataResults"]
    assert [r["Id"] for r in data] == ["p99", "errors"]
    assert data[1]["Label"] == "failures" and sum(data[1]["Values"]) == ERRORS
    assert data[1]["Timestamps"] == sorted(data[1]["Timestamps"], reverse=True)  # newest first, by default
    assert all(r["StatusCode"] == "Complete" for r in data)
    assert max(data[0]["Values"]) >= 160 * 0.99


def test_alias_invocations_have_resource_and_executed_version(cloudwatch, mixed: str) -> None:
    resource = {"FunctionName": mixed, "Resource": f"{mixed}:live"}
    assert total(cloudwatch, "Invocations", resource) == ALIAS_INVOKES
    assert total(cloudwatch, "Invocations", {**resource, "ExecutedVersion": "1"}) == ALIAS_INVOKES

    listed = cloudwatch.list_metrics(Namespace="AWS/Lambda", MetricName="Invocations",
                                     Dimensions=[{"Name": "FunctionName", "Value": mixed}])["Metrics"]
    dimension_sets = sorted(tuple(sorted(d["Name"] for d in metric["Dimensions"])) for metric in listed)
    assert dimension_sets == [("ExecutedVersion", "FunctionName", "Resource"), ("FunctionName",),
                              ("FunctionName", "Resource")]
    names = {metric["MetricName"] for metric in cloudwatch.list_metrics(
        Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": mixed}])["Metrics"]}
    assert {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"} <= names


def test_account_level_concurrency(cloudwatch, mixed: str) -> None:
    for metric in ("ConcurrentExecutions", "UnreservedConcurrentExecutions", "Invocations"):
        points = statistics(cloudwatch, metric, {}, Statistics=["Maximum", "SampleCount"])
        assert points and max(p["Maximum"] for p in points) >= 1, metric
    per_function = statistics(cloudwatch, "ConcurrentExecutions", {"FunctionName": mixed}, Statistics=["Maximum"])
    assert max(p["Maximum"] for p in per_function) == 1  # invoked one at a time


def test_prometheus_metrics_tell_the_same_story(ember: EmberServer, mixed: str) -> None:
    response = urllib3.request("GET", f"{ember.url}/metrics")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.data.decode()

    def sample(name: str) -> float:
        match = re.search(rf'^{name}\{{function_name="{mixed}"\}} (\S+)$', text, re.MULTILINE)
        assert match, f"{name} for {mixed} not in /metrics"
        return float(match.group(1))

    assert sample("ember_lambda_invocations_total") == SUCCESSES + ERRORS + ALIAS_INVOKES
    assert sample("ember_lambda_errors_total") == ERRORS
    assert sample("ember_lambda_throttles_total") == THROTTLES
    assert sample("ember_lambda_duration_seconds_count") == SUCCESSES + ERRORS + ALIAS_INVOKES
    assert sample("ember_lambda_duration_seconds_sum") >= sum(SLEEPS_MS) / 1000
    assert re.search(r"^ember_lambda_account_concurrent_executions \d", text, re.MULTILINE)
    assert re.search(r"^ember_environments \d", text, re.MULTILINE)


def error_of(call: Callable[[], object]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_bad_input_gets_cloudwatchs_errors(cloudwatch) -> None:
    base = {"Namespace": "AWS/Lambda", "MetricName": "Invocations", "Period": 60, **window()}
    assert error_of(lambda: cloudwatch.get_metric_statistics(**base)) == (
        "InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics, but not both.", 400)
    assert error_of(lambda: cloudwatch.get_metric_statistics(**{**base, "Period": 90}, Statistics=["Sum"])) == (
        "InvalidParameterValue", "The parameter Period must be a multiple of 60.", 400)
    now = dt.datetime.now(dt.UTC)
    code, message, _ = error_of(lambda: cloudwatch.get_metric_statistics(
        **{**base, "StartTime": now, "EndTime": now - dt.timedelta(minutes=5)}, Statistics=["Sum"]))
    assert (code, message) == ("InvalidParameterValue",
                               "The parameter StartTime must be less than the parameter EndTime.")
    code, message, _ = error_of(lambda: cloudwatch.get_metric_statistics(
        **{**base, "StartTime": now - dt.timedelta(days=2), "EndTime": now}, Statistics=["Sum"]))
    assert code == "InvalidParameterCombination" and "exceeds the limit of 1,440" in message
    code, message, _ = error_of(lambda: cloudwatch.get_metric_statistics(**base, ExtendedStatistics=["p200"]))
    assert code == "InvalidParameterValue" and "p200" in message
    code, message, _ = error_of(lambda: cloudwatch.get_metric_data(**window(), MetricDataQueries=[
        {"Id": "m1", "Expression": "SUM(METRICS())"}]))
    assert code == "InvalidParameterValue" and "metric math" in message
    code, message, _ = error_of(lambda: cloudwatch.get_metric_data(**window(), MetricDataQueries=[
        {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors"}, "Period": 60,
                                    "Stat": "Median"}}]))
    assert code == "InvalidParameterValue" and "Median" in message
    # A constraint of the model: CloudWatch's ValidationError, in its query-compatible code.
    code, _, status = error_of(lambda: cloudwatch.get_metric_statistics(**base, Statistics=["Sum"], Unit="Parsecs"))
    assert (code, status) == ("ValidationError", 400)
