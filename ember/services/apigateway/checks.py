"""What API Gateway accepts in names and keys, refused in its words with what to send instead."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ember.errors import BadRequestException

#: a path part: letters, digits and ._- ; or a variable `{name}`, greedy `{name+}`
_PATH_PART = re.compile(r"[a-zA-Z0-9._-]+|\{[a-zA-Z0-9._-]+\+?\}")
HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "ANY")
AUTHORIZATION_TYPES = ("NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS")
_STATUS_CODE = re.compile(r"[1-5][0-9][0-9]")
_METHOD_PARAMETER = re.compile(r"method\.request\.(path|querystring|multivaluequerystring|header|multivalueheader)"
                               r"\.[^\s]+")
_STAGE_NAME = re.compile(r"[a-zA-Z0-9_]{1,128}")
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_VARIABLE_VALUE = re.compile(r"[A-Za-z0-9\-._~:/?#&=,]{1,512}")


def check_path_part(path_part: str) -> None:
    if not _PATH_PART.fullmatch(path_part):
        raise BadRequestException("Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning "
                                  "and the end and an optional plus sign before the closing brace.")


def check_http_method(http_method: str | None) -> str:
    if not http_method:
        raise BadRequestException("Enumeration value for HttpMethod must be non-empty")
    if http_method not in HTTP_METHODS:
        raise BadRequestException(f"Invalid HttpMethod specified. Valid options are {','.join(HTTP_METHODS)}")
    return http_method


def check_authorization_type(authorization_type: str) -> None:
    if authorization_type not in AUTHORIZATION_TYPES:
        raise BadRequestException("Invalid authorization type specified. Valid options are "
                                  f"{','.join(AUTHORIZATION_TYPES)}")


def check_status_code(status_code: str) -> None:
    if not _STATUS_CODE.fullmatch(status_code):
        raise BadRequestException(f"Invalid status code specified: {status_code}. A status code is three digits "
                                  "from 100 to 599")


def check_method_parameters(parameters: Mapping[str, bool]) -> None:
    for name in parameters:
        if not _METHOD_PARAMETER.fullmatch(name):
            raise BadRequestException(
                f"Invalid method request parameter specified: {name}. Name it method.request.path.NAME, "
                "method.request.querystring.NAME or method.request.header.NAME")


def check_stage_name(stage_name: str) -> None:
    if not _STAGE_NAME.fullmatch(stage_name):
        raise BadRequestException("Stage name only allows a-zA-Z0-9_")


def check_variables(variables: Mapping[str, str]) -> None:
    for name, value in variables.items():
        if not _VARIABLE_NAME.fullmatch(name):
            raise BadRequestException(f"Invalid stage variable name '{name}': names have 1 to 64 letters, digits "
                                      "and underscores")
        if not _VARIABLE_VALUE.fullmatch(value):
            raise BadRequestException(f"Invalid stage variable value '{value}' for '{name}': values have 1 to 512 "
                                      "characters from A-Za-z0-9-._~:/?#&=,")
