"""Faust adapters: the app, its agents and the worker's web endpoints."""
