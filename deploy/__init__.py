"""Deployment files of dealpulse; Python only in deploy/grafana/dashboards_src."""
