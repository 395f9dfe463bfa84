"""What operators watch: liveness and readiness probes, Prometheus metrics, JSON logs."""
