"""Async Kubernetes plumbing: clients, the shared watch hub, state rules. Never imports Airflow."""
