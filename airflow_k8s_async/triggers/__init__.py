"""Triggers: run in the Airflow triggerer, wait on the shared hubs, yield small events."""
