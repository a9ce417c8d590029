"""The edge's HTTP control API and its Prometheus metrics."""
