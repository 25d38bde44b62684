"""Anomalies of a metric against its own history (`metric_anomaly` monitors): a row count
with a weekly cycle, a null rate that is higher on Sundays, a mean that creeps."""
