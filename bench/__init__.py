"""Benchmarks of our triggers beside the cncf.kubernetes provider's, on a real API server."""
