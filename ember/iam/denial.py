"""AWS's access denied messages, worded from a `Decision`.

The forms are the IAM User Guide's ("Troubleshooting access denied error messages"):

    User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform:
    codecommit:ListRepositories because no identity-based policy allows the codecommit:ListRepositories action

    User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform:
    codedeploy:ListDeployments on resource: arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:*
    with an explicit deny in an identity-based policy

(one line each): `on resource: ...` when the action is on a resource; `with an explicit deny in a
TYPE policy` for a Deny, `because no TYPE policy allows the ACTION action` otherwise, TYPE being
identity-based or resource-based. The guide words a role trust policy's explicit deny `with an
explicit deny in the role trust policy`; its implicit form ("because the role trust policy allows")
reads as a typo there, so Ember says `because no role trust policy allows the sts:AssumeRole action`.
"""

from __future__ import annotations

from ember.iam.evaluation import Decision, PolicyType
from ember.iam.request import AuthorizationRequest

_EXPLICIT = {
    PolicyType.IDENTITY: "with an explicit deny in an identity-based policy",
    PolicyType.RESOURCE: "with an explicit deny in a resource-based policy",
    PolicyType.TRUST: "with an explicit deny in the role trust policy",
}


def denial_message(request: AuthorizationRequest, decision: Decision, *, with_reason: bool = True) -> str:
    """The message for a denied request; `with_reason=False` gives the older form that stops after
    the resource (still what some services say)."""
    if decision.allowed:
        raise ValueError("the request was allowed")
    message = f"User: {request.caller.arn} is not authorized to perform: {request.action}"
    if request.resource is not None:
        message += f" on resource: {request.resource}"
    if not with_reason:
        return message
    policy_type = decision.policy_type or PolicyType.IDENTITY
    if decision.explicit_deny:
        return f"{message} {_EXPLICIT[policy_type]}"
    return f"{message} because no {policy_type.value} policy allows the {request.action} action"
