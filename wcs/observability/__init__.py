"""What the server tells operators: Prometheus metrics (``metrics``, ``server_metrics``) and
event-loop lag (``loop_lag``)."""
