"""VpcConfig: checked against the operator's networks (ember/networks.py) and rendered back.

AWS looks the subnets and security groups up in EC2 and answers a missing one with the EC2
error inside an InvalidParameterValueException; Ember looks them up in the declared networks
and answers in the same words. Empty lists (or no VpcConfig) mean no VPC: the function then
gets the server's function network mode.
"""

from __future__ import annotations

from typing import Any

from ember.errors import InvalidParameterValueException
from ember.models import FunctionVpc
from ember.networks import (
    GroupOutsideNetwork,
    NetworkError,
    NetworkRegistry,
    SubnetsInSeveralNetworks,
    UnknownSecurityGroup,
    UnknownSubnet,
)


def check_vpc(vpc_config: dict[str, Any] | None, networks: NetworkRegistry) -> FunctionVpc | None:
    """The FunctionVpc a VpcConfig parameter names, or None for none."""
    if not vpc_config:
        return None
    subnet_ids = list(dict.fromkeys(vpc_config.get("SubnetIds") or []))
    group_ids = list(dict.fromkeys(vpc_config.get("SecurityGroupIds") or []))
    if not subnet_ids and not group_ids:
        return None
    if not subnet_ids or not group_ids:
        missing = "SubnetIds" if not subnet_ids else "SecurityGroupIds"
        raise InvalidParameterValueException(
            f"VpcConfig needs both SubnetIds and SecurityGroupIds: {missing} is empty. Name at least one of "
            "each, or leave both empty for no VPC.")
    try:
        vpc_id, _ = networks.resolve(subnet_ids, group_ids)
    except UnknownSubnet as exc:
        raise InvalidParameterValueException(
            "Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. EC2 Error Message: "
            f"The subnet ID '{exc.subnet_id}' does not exist") from None
    except UnknownSecurityGroup as exc:
        raise InvalidParameterValueException(
            "Error occurred while DescribeSecurityGroups. EC2 Error Code: InvalidGroup.NotFound. EC2 Error "
            f"Message: The security group '{exc.group_id}' does not exist") from None
    except GroupOutsideNetwork as exc:
        raise InvalidParameterValueException(
            f"Security group {exc.group_id} does not belong to {exc.vpc_id}, the VPC of the subnets given") from None
    except SubnetsInSeveralNetworks as exc:
        raise InvalidParameterValueException(
            f"The subnets given belong to different VPCs ({', '.join(exc.args[0])}): name subnets of one VPC") from None
    except NetworkError as exc:
        raise InvalidParameterValueException(f"The server's networks cannot be read: {exc}") from None
    return FunctionVpc(vpc_id, tuple(subnet_ids), tuple(group_ids), bool(vpc_config.get("Ipv6AllowedForDualStack")))


def wire_vpc(vpc: FunctionVpc) -> dict[str, Any]:
    """The VpcConfigResponse shape."""
    return {"SubnetIds": list(vpc.subnet_ids), "SecurityGroupIds": list(vpc.security_group_ids),
            "VpcId": vpc.vpc_id, "Ipv6AllowedForDualStack": vpc.ipv6_dual_stack}
