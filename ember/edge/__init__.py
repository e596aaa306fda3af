"""The edge: one ASGI app on one port, routing each request to a service's operation."""
