"""Checks on where Event invocations' records and discarded events may go, worded as AWS words them.

- Destinations (PutFunctionEventInvokeConfig): a Lambda function now; SQS, SNS, EventBridge
  and S3 (on failure only) once Ember has those services.
- Dead-letter queues (DeadLetterConfig.TargetArn): SQS or SNS only, as on Lambda, so none can
  be set until Ember has those services; an empty TargetArn removes the setting.
"""

from __future__ import annotations

from typing import Any

from ember.arns import FunctionRef, parse_function_ref
from ember.errors import EmberError, InvalidParameterValueException
from ember.lambda_.backend import LambdaBackend

#: destination services Lambda accepts that Ember does not have yet, by the ARN's service part
NOT_YET_IN_EMBER = {"sqs": "Amazon SQS", "sns": "Amazon SNS", "events": "Amazon EventBridge", "s3": "Amazon S3"}
DEAD_LETTER_SERVICES = {"sqs": "Amazon SQS", "sns": "Amazon SNS"}


def _service_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) >= 6 and parts[0] == "arn" else ""


async def check_destinations(backend: LambdaBackend, function_name: str,
                             destination_config: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """The (OnSuccess, OnFailure) destination ARNs of a DestinationConfig, checked; None where unset."""
    on_success = ((destination_config or {}).get("OnSuccess") or {}).get("Destination") or None
    on_failure = ((destination_config or {}).get("OnFailure") or {}).get("Destination") or None
    for arn, is_failure in ((on_success, False), (on_failure, True)):
        if arn is None:
            continue
        service = _service_of(arn)
        if service == "lambda":
            await _check_function_destination(backend, function_name, arn)
        elif service in NOT_YET_IN_EMBER and (is_failure or service != "s3"):
            raise InvalidParameterValueException(
                f"The destination ARN {arn} is invalid: Ember has no {NOT_YET_IN_EMBER[service]} yet, so it cannot "
                "receive invocation records. Use a Lambda function as the destination "
                f"({backend.arn('FUNCTION_NAME')})."
            )
        else:  # another service, or S3 on success (Lambda sends only failures to a bucket)
            shown_success = f"OnSuccess(destination={on_success})" if on_success else "null"
            shown_failure = f"OnFailure(destination={on_failure})" if on_failure else "null"
            raise InvalidParameterValueException(
                f"The provided destination config DestinationConfig(onSuccess={shown_success}, "
                f"onFailure={shown_failure}) is invalid."
            )
    return on_success, on_failure


async def _check_function_destination(backend: LambdaBackend, function_name: str, arn: str) -> None:
    invalid = InvalidParameterValueException(f"The destination ARN {arn} is invalid.")
    try:
        ref = parse_function_ref(arn)
    except EmberError:
        raise invalid from None
    if ":function:" not in arn or (ref.region and ref.region != backend.home.region) or (
            ref.account_id and ref.account_id != backend.home.account_id):
        raise invalid
    if ref.name == function_name:
        raise InvalidParameterValueException("You can't specify the function as a destination for itself.")
    try:
        await backend.get(FunctionRef(ref.name, ref.qualifier))
    except EmberError:
        raise invalid from None


def check_dead_letter_target(dead_letter_config: dict[str, Any] | None) -> str | None:
    """The DeadLetterConfig's TargetArn if Ember can deliver to it; None when it is empty (no DLQ)."""
    target = (dead_letter_config or {}).get("TargetArn") or None
    if target is None:
        return None
    service = _service_of(target)
    if service in DEAD_LETTER_SERVICES:
        raise InvalidParameterValueException(
            f"Ember has no {DEAD_LETTER_SERVICES[service]} yet, so {target} cannot be a dead-letter queue. To keep "
            "failed Event invocations, send them to a Lambda function with an OnFailure destination "
            "(PutFunctionEventInvokeConfig)."
        )
    raise InvalidParameterValueException(
        f"The provided target arn {target} is invalid: a dead-letter queue must be an Amazon SQS queue or an "
        "Amazon SNS topic. To send failed Event invocations to a Lambda function, use an OnFailure destination "
        "(PutFunctionEventInvokeConfig)."
    )
