"""The lite_tracker web UI and MLflow REST API."""
