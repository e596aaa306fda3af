"""Event invoke configs and DeadLetterConfig through boto3 and the aws CLI: shapes, defaults, errors.

Expected wording is AWS's, as recorded against AWS in LocalStack's snapshot tests.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, make_zip, unique_name

ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
NOOP = "def handler(event, context):\n    return event\n"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def unvalidated_client(server: EmberServer):
    """A client that sends out-of-range values, so the server's own checks answer."""
    return server.lambda_client(parameter_validation=False)


def test_put_get_update_list_delete_lifecycle(lambda_client, make_function) -> None:
    name = make_function(NOOP)
    put = lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert put["FunctionArn"] == f"{ARN_PREFIX}{name}:$LATEST"
    assert put["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in put  # unset limits are left out, as AWS does
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert isinstance(put["LastModified"], dt.datetime)
    assert abs(put["LastModified"].timestamp() - dt.datetime.now(dt.UTC).timestamp()) < 60

    # Put replaces the whole configuration: the retry setting is gone.
    put = lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60)
    assert put["MaximumEventAgeInSeconds"] == 60 and "MaximumRetryAttempts" not in put

    # Update changes only what it names.
    updated = lambda_client.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert (updated["MaximumEventAgeInSeconds"], updated["MaximumRetryAttempts"]) == (60, 1)
    for qualifier in ({}, {"Qualifier": "$LATEST"}):
        got = lambda_client.get_function_event_invoke_config(FunctionName=name, **qualifier)
        assert (got["MaximumEventAgeInSeconds"], got["MaximumRetryAttempts"]) == (60, 1)
        assert got["FunctionArn"] == f"{ARN_PREFIX}{name}:$LATEST"

    version = lambda_client.publish_version(FunctionName=name)["Version"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as excinfo:
        lambda_client.get_function_event_invoke_config(FunctionName=name, Qualifier=version)
    assert error_of(excinfo) == ("ResourceNotFoundException",
                                 f"The function {ARN_PREFIX}{name}:{version} doesn't have an EventInvokeConfig", 404)
    lambda_client.put_function_event_invoke_config(FunctionName=name, Qualifier=version, MaximumEventAgeInSeconds=120)
    assert lambda_client.get_function_event_invoke_config(
        FunctionName=f"{name}:{version}")["MaximumEventAgeInSeconds"] == 120

    first = lambda_client.list_function_event_invoke_configs(FunctionName=name, MaxItems=1)
    assert len(first["FunctionEventInvokeConfigs"]) == 1
    rest = lambda_client.list_function_event_invoke_configs(FunctionName=name, Marker=first["NextMarker"])
    assert "NextMarker" not in rest
    arns = {c["FunctionArn"] for c in first["FunctionEventInvokeConfigs"] + rest["FunctionEventInvokeConfigs"]}
    assert arns == {f"{ARN_PREFIX}{name}:$LATEST", f"{ARN_PREFIX}{name}:{version}"}

    response = lambda_client.delete_function_event_invoke_config(FunctionName=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    remaining = lambda_client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in remaining] == [f"{ARN_PREFIX}{name}:{version}"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as excinfo:
        lambda_client.delete_function_event_invoke_config(FunctionName=name)
    assert error_of(excinfo)[1] == f"The function {ARN_PREFIX}{name}:$LATEST doesn't have an EventInvokeConfig"


def test_configs_go_with_their_alias_version_and_function(lambda_client, make_function) -> None:
    name = make_function(NOOP)
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    for qualifier in ("live", version, "$LATEST"):
        lambda_client.put_function_event_invoke_config(FunctionName=name, Qualifier=qualifier, MaximumRetryAttempts=1)
    aliased = lambda_client.get_function_event_invoke_config(FunctionName=f"{ARN_PREFIX}{name}:live")
    assert aliased["FunctionArn"] == f"{ARN_PREFIX}{name}:live"

    lambda_client.delete_alias(FunctionName=name, Name="live")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function_event_invoke_config(FunctionName=name, Qualifier="live")
    lambda_client.delete_function(FunctionName=name, Qualifier=version)
    listed = lambda_client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [f"{ARN_PREFIX}{name}:$LATEST"]

    lambda_client.delete_function(FunctionName=name)
    lambda_client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                                  Code={"ZipFile": make_zip({"index.py": NOOP})})
    # A function created again under the same name starts without the old configuration.
    assert lambda_client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []


def test_errors_say_what_is_missing(lambda_client, unvalidated_client, make_function) -> None:
    name = make_function(NOOP)
    missing = unique_name("missing")
    cases = [
        (lambda: lambda_client.put_function_event_invoke_config(FunctionName=missing),
         ("InvalidParameterValueException", "You must specify at least one of error handling or destination "
                                            "setting.", 400)),
        (lambda: lambda_client.put_function_event_invoke_config(FunctionName=missing, MaximumRetryAttempts=1),
         ("ResourceNotFoundException", "The function doesn't exist.", 404)),
        (lambda: lambda_client.put_function_event_invoke_config(FunctionName=name, Qualifier="nosuchalias",
                                                                MaximumRetryAttempts=1),
         ("ResourceNotFoundException", "The function doesn't exist.", 404)),
        (lambda: lambda_client.put_function_event_invoke_config(FunctionName=f"{name}:$LATEST", Qualifier="1",
                                                                MaximumRetryAttempts=1),
         ("InvalidParameterValueException", "The derived qualifier from the function name does not match the "
                                            "specified qualifier.", 400)),
        (lambda: lambda_client.get_function_event_invoke_config(FunctionName=missing),
         ("ResourceNotFoundException", f"The function {ARN_PREFIX}{missing}:$LATEST doesn't have an "
                                       "EventInvokeConfig", 404)),
        (lambda: lambda_client.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1),
         ("ResourceNotFoundException", f"The function {ARN_PREFIX}{name}:$LATEST doesn't have an "
                                       "EventInvokeConfig", 404)),
        (lambda: lambda_client.update_function_event_invoke_config(FunctionName=missing, MaximumRetryAttempts=1),
         ("ResourceNotFoundException", "The function doesn't exist.", 404)),
        (lambda: lambda_client.list_function_event_invoke_configs(FunctionName=missing),
         ("ResourceNotFoundException", "The function doesn't exist.", 404)),
        (lambda: unvalidated_client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=3),
         ("ValidationException", "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to "
                                 "satisfy constraint: Member must have value less than or equal to 2", 400)),
        (lambda: unvalidated_client.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=59),
         ("ValidationException", "1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to "
                                 "satisfy constraint: Member must have value greater than or equal to 60", 400)),
    ]
    for call, expected in cases:
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo) == expected


def test_destinations(lambda_client, make_function) -> None:
    name, other = make_function(NOOP), make_function(NOOP)

    def put(**destinations: str) -> dict:
        config = {key: {"Destination": arn} for key, arn in destinations.items()}
        return lambda_client.put_function_event_invoke_config(FunctionName=name, DestinationConfig=config)

    response = put(OnSuccess=f"{ARN_PREFIX}{other}", OnFailure=f"{ARN_PREFIX}{other}")
    assert response["DestinationConfig"] == {"OnSuccess": {"Destination": f"{ARN_PREFIX}{other}"},
                                             "OnFailure": {"Destination": f"{ARN_PREFIX}{other}"}}
    # Update keeps the destination it does not name.
    response = lambda_client.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": ""}})
    assert response["DestinationConfig"] == {"OnSuccess": {"Destination": f"{ARN_PREFIX}{other}"}, "OnFailure": {}}

    sqs = "arn:aws:sqs:us-east-1:000000000000:failures"
    bucket = "arn:aws:s3:::failures"
    cases = [
        ({"OnSuccess": f"{ARN_PREFIX}nosuchfunction"}, f"The destination ARN {ARN_PREFIX}nosuchfunction is invalid."),
        ({"OnFailure": f"{ARN_PREFIX}{name}"}, "You can't specify the function as a destination for itself."),
        ({"OnSuccess": f"arn:aws:iam:us-east-1:000000000000:function:{name}"},
         f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=arn:aws:iam:us-east-1:"
         f"000000000000:function:{name}), onFailure=null) is invalid."),
        ({"OnSuccess": bucket},  # Lambda sends only failure records to a bucket
         f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={bucket}), "
         "onFailure=null) is invalid."),
    ]
    for destinations, message in cases:
        with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as excinfo:
            put(**destinations)
        assert error_of(excinfo) == ("InvalidParameterValueException", message, 400)
    for arn, service in ((sqs, "Amazon SQS"), ("arn:aws:sns:us-east-1:000000000000:topic", "Amazon SNS"),
                         ("arn:aws:events:us-east-1:000000000000:event-bus/default", "Amazon EventBridge"),
                         (bucket, "Amazon S3")):
        with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as excinfo:
            put(OnFailure=arn)
        message = error_of(excinfo)[1]
        assert message.startswith(f"The destination ARN {arn} is invalid: Ember has no {service} yet"), message
        assert "Use a Lambda function as the destination" in message


def test_the_aws_cli_configures_async_invocation(server: EmberServer, make_function) -> None:
    name, other = make_function(NOOP), make_function(NOOP)
    completed = server.aws("lambda", "put-function-event-invoke-config", "--function-name", name,
                           "--maximum-retry-attempts", "1", "--destination-config",
                           json.dumps({"OnFailure": {"Destination": f"{ARN_PREFIX}{other}"}}))
    document = json.loads(completed.stdout)
    assert document["MaximumRetryAttempts"] == 1
    assert document["DestinationConfig"]["OnFailure"]["Destination"] == f"{ARN_PREFIX}{other}"
    listed = json.loads(server.aws("lambda", "list-function-event-invoke-configs", "--function-name", name).stdout)
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [f"{ARN_PREFIX}{name}:$LATEST"]
    failed = server.aws("lambda", "get-function-event-invoke-config", "--function-name", other, check=False)
    assert failed.returncode != 0 and "doesn't have an EventInvokeConfig" in failed.stderr


def test_dead_letter_config_targets(lambda_client, make_function) -> None:
    name = make_function(NOOP)
    cases = {
        "arn:aws:sqs:us-east-1:000000000000:dlq": "Ember has no Amazon SQS yet, so arn:aws:sqs:us-east-1:"
                                                  "000000000000:dlq cannot be a dead-letter queue.",
        "arn:aws:sns:us-east-1:000000000000:dlq": "Ember has no Amazon SNS yet, so arn:aws:sns:us-east-1:"
                                                  "000000000000:dlq cannot be a dead-letter queue.",
        f"{ARN_PREFIX}{name}": f"The provided target arn {ARN_PREFIX}{name} is invalid: a dead-letter queue must be "
                               "an Amazon SQS queue or an Amazon SNS topic.",
    }
    for target, message in cases.items():
        with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as excinfo:
            lambda_client.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": target})
        assert error_of(excinfo)[1].startswith(message), error_of(excinfo)
        with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
            make_function(NOOP, DeadLetterConfig={"TargetArn": target})
    # An empty target removes the setting, as on Lambda; the configuration then shows none.
    configuration = lambda_client.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in configuration
    assert "DeadLetterConfig" not in lambda_client.get_function_configuration(FunctionName=name)


def test_list_refuses_a_qualified_name(lambda_client, make_function) -> None:
    name = make_function(NOOP)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as excinfo:
        lambda_client.list_function_event_invoke_configs(FunctionName=f"{name}:$LATEST")
    assert "without a version or alias" in error_of(excinfo)[1]
