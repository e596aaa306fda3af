"""Telemetry: function logs, metrics and what records them on the invoke path."""
