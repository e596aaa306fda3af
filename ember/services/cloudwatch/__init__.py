"""CloudWatch (metrics): the AWS/Lambda namespace, read through GetMetricStatistics, GetMetricData, ListMetrics."""
