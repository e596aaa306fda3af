"""Integration and authorizer URIs: what each integration type must point at.

AWS_PROXY (and a Lambda authorizer) takes a Lambda function's invocations URI,
`arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations`; AWS takes
any service's `arn:aws:apigateway:REGION:SERVICE:path/...` or `:action/...`; HTTP and HTTP_PROXY
take an http(s) URL. Stage variables (`${stageVariables.NAME}`) may stand in for a part, as
API Gateway allows, and are resolved when a request comes.
"""

from __future__ import annotations

import re
import urllib.parse

from ember.apigateway_store.records import IntegrationType
from ember.errors import BadRequestException

_STAGE_VARIABLE = r"\$\{stageVariables\.[A-Za-z0-9_]+\}"
_SERVICE_ARN = re.compile(r"arn:aws[a-z-]*:apigateway:(?P<region>[a-z0-9-]+):(?P<service>[a-z0-9.-]+):"
                          r"(?P<kind>path|action)/(?P<rest>.+)")
_ANY_APIGATEWAY_ARN = re.compile(r"arn:aws[a-z-]*:apigateway:[^:]*:[^:]*:.*")
_INVOCATIONS = re.compile(r"2015-03-31/functions/(?P<function>.+)/invocations")
_FUNCTION_PART = rf"(?:[a-zA-Z0-9_-]|{_STAGE_VARIABLE})+"
_FUNCTION_ARN = re.compile(rf"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{{12}}:function:{_FUNCTION_PART}"
                           rf"(?::{_FUNCTION_PART})?")
LAMBDA_URI_FORM = "arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations"


def lambda_function_of(uri: str) -> str | None:
    """The function ARN (perhaps with stage variables in it) of a Lambda invocations URI, else None."""
    found = _SERVICE_ARN.fullmatch(uri)
    if found is None or found["service"] != "lambda" or found["kind"] != "path":
        return None
    invocations = _INVOCATIONS.fullmatch(found["rest"])
    if invocations is None or not _FUNCTION_ARN.fullmatch(invocations["function"]):
        return None
    return invocations["function"]


def check_lambda_uri(uri: str | None, what: str) -> str:
    """`uri` if it is a Lambda function's invocations URI; else BadRequestException saying so
    (`what` names the caller: "Integrations of type 'AWS_PROXY'", "An authorizer")."""
    if not uri or not _ANY_APIGATEWAY_ARN.fullmatch(uri):
        raise BadRequestException(f"Invalid ARN specified in the request. {what} needs a uri of the form "
                                  f"{LAMBDA_URI_FORM}")
    if lambda_function_of(uri) is None:
        raise BadRequestException(f"{what} currently only supports Lambda function invocations: the uri must "
                                  f"have the form {LAMBDA_URI_FORM}, with the function's ARN "
                                  "(arn:aws:lambda:REGION:ACCOUNT:function:NAME)")
    return uri


def check_integration_uri(integration_type: IntegrationType, uri: str | None) -> str | None:
    """The uri an integration of `integration_type` keeps (None for MOCK), or its refusal."""
    if integration_type is IntegrationType.MOCK:
        return None
    if integration_type is IntegrationType.AWS_PROXY:
        return check_lambda_uri(uri, "Integrations of type 'AWS_PROXY'")
    if integration_type is IntegrationType.AWS:
        if not uri or not _ANY_APIGATEWAY_ARN.fullmatch(uri):
            raise BadRequestException("Invalid ARN specified in the request. An AWS integration's uri has the "
                                      "form arn:aws:apigateway:REGION:SERVICE:path/PATH or "
                                      "arn:aws:apigateway:REGION:SERVICE:action/ACTION")
        if not _SERVICE_ARN.fullmatch(uri):
            raise BadRequestException("AWS ARN for integration must contain path or action")
        return uri
    try:
        parsed = urllib.parse.urlsplit(uri or "")
        is_url = parsed.scheme in ("http", "https") and bool(parsed.netloc)
    except ValueError:  # an unclosed IPv6 bracket, say
        is_url = False
    if not is_url:
        raise BadRequestException("Invalid HTTP endpoint specified for URI: an HTTP or HTTP_PROXY integration's "
                                  "uri is an absolute http:// or https:// URL")
    return uri
