"""IAM's records as the API returns them, and its Marker paging."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ember.errors import NoSuchEntityException, ValidationException
from ember.iam_store.base import AccessKey, Group, ManagedPolicy, PolicyVersion, Role, Tag, User

T = TypeVar("T")

#: IAM's MaxItems default
DEFAULT_MAX_ITEMS = 100


def policy_text(document: str) -> str:
    """A policy document as IAM returns it: URL-encoded (RFC 3986); the SDKs decode it."""
    return urllib.parse.quote(document, safe="")


def tags(values: Sequence[Tag]) -> list[dict[str, str]]:
    return [{"Key": tag.key, "Value": tag.value} for tag in values]


def user(record: User) -> dict[str, Any]:
    wire: dict[str, Any] = {"Path": record.path, "UserName": record.name, "UserId": record.user_id,
                            "Arn": record.arn, "CreateDate": record.created_at}
    if record.tags:
        wire["Tags"] = tags(record.tags)
    return wire


def group(record: Group) -> dict[str, Any]:
    return {"Path": record.path, "GroupName": record.name, "GroupId": record.group_id, "Arn": record.arn,
            "CreateDate": record.created_at}


def role(record: Role) -> dict[str, Any]:
    wire: dict[str, Any] = {"Path": record.path, "RoleName": record.name, "RoleId": record.role_id,
                            "Arn": record.arn, "CreateDate": record.created_at,
                            "AssumeRolePolicyDocument": policy_text(record.trust_policy),
                            "MaxSessionDuration": record.max_session_duration_s}
    if record.description:
        wire["Description"] = record.description
    if record.tags:
        wire["Tags"] = tags(record.tags)
    return wire


def access_key_metadata(key: AccessKey) -> dict[str, Any]:
    return {"UserName": key.user_name, "AccessKeyId": key.access_key_id, "Status": key.status,
            "CreateDate": key.created_at}


def managed_policy(record: ManagedPolicy) -> dict[str, Any]:
    wire: dict[str, Any] = {"PolicyName": record.name, "PolicyId": record.policy_id, "Arn": record.arn,
                            "Path": record.path, "DefaultVersionId": record.default_version_id,
                            "AttachmentCount": record.attachment_count, "PermissionsBoundaryUsageCount": 0,
                            "IsAttachable": True, "CreateDate": record.created_at, "UpdateDate": record.updated_at}
    if record.description:
        wire["Description"] = record.description
    return wire


def policy_version(version: PolicyVersion, with_document: bool = True) -> dict[str, Any]:
    wire: dict[str, Any] = {"VersionId": version.version_id, "IsDefaultVersion": version.is_default,
                            "CreateDate": version.created_at}
    if with_document:
        wire["Document"] = policy_text(version.document)
    return wire


def marker_for(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def after_marker(marker: str | None) -> str | None:
    """The name a Marker continues after; ValidationException for one Ember did not hand out."""
    if marker is None:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationException("Invalid Marker.") from None


def page(items: Sequence[T], max_items: int, name_of: Callable[[T], str], key: str,
         render: Callable[[T], Any]) -> dict[str, Any]:
    """IAM's paged answer from up to max_items + 1 items fetched: the first max_items, and a
    Marker when there were more."""
    shown = list(items[:max_items])
    result: dict[str, Any] = {key: [render(item) for item in shown], "IsTruncated": len(items) > max_items}
    if len(items) > max_items:
        result["Marker"] = marker_for(name_of(shown[-1]))
    return result


def max_items(params: dict[str, Any]) -> int:
    return int(params.get("MaxItems", DEFAULT_MAX_ITEMS))


def no_such_entity(noun: str, name: str) -> NoSuchEntityException:
    """IAM's NoSuchEntity for the user, group or role called `name`."""
    return NoSuchEntityException(f"The {noun} with name {name} cannot be found.")


async def listing(list_page: Callable[[str, str | None, int], Awaitable[Sequence[T]]], params: dict[str, Any],
                  key: str, render: Callable[[T], Any], name_of: Callable[[T], str]) -> dict[str, Any]:
    """A List* answer over a store listing by name (`list_page(path_prefix, after_name, limit)`),
    from the request's PathPrefix, Marker and MaxItems."""
    limit = max_items(params)
    items = await list_page(params.get("PathPrefix", "/"), after_marker(params.get("Marker")), limit + 1)
    return page(items, limit, name_of, key, render)


def page_by_position(items: Sequence[T], params: dict[str, Any], key: str,
                     render: Callable[[T], Any]) -> dict[str, Any]:
    """Paging over a short list held whole (a user's keys, a policy's versions): the Marker is
    the position to go on from."""
    start = 0
    marker = params.get("Marker")
    if marker is not None:
        position = after_marker(marker)
        if position is None or not position.isdigit():
            raise ValidationException("Invalid Marker.")
        start = int(position)
    limit = max_items(params)
    shown = list(items[start:start + limit])
    result: dict[str, Any] = {key: [render(item) for item in shown], "IsTruncated": start + limit < len(items)}
    if result["IsTruncated"]:
        result["Marker"] = marker_for(str(start + limit))
    return result
