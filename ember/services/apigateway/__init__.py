"""API Gateway's REST APIs (v1): the control plane, over the ApiGatewayStore."""
