"""Operators: build the resource, submit it, defer, and finish on the worker."""
