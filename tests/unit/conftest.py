"""Unit-test settings that must be in place before anything imports Airflow.

Airflow reads ``AIRFLOW_HOME`` (and its ``airflow.cfg``, which may configure a secrets backend)
once, at import. Unit tests get an empty home of their own so nothing from ``~/airflow`` leaks
in; connections are then defined per test with ``AIRFLOW_CONN_<ID>`` environment variables.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_HOME = tempfile.mkdtemp(prefix="airflow-k8s-async-unit-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _HOME
os.environ.pop("AIRFLOW__SECRETS__BACKEND", None)
os.environ.pop("_AIRFLOW_PROCESS_CONTEXT", None)
