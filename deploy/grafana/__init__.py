"""Grafana provisioning and the dashboards-as-code generator (dashboards_src)."""
