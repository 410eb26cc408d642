"""Async Armada plumbing over gRPC (grpc.aio + armada-client's stubs); never imports Airflow."""
