"""CloudWatch Logs: the API over the log store that invocations write to."""
