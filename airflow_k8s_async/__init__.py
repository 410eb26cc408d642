"""Deferrable-first Airflow 3 operators for Kubernetes and Armada.

Operators only submit work and defer; triggers in the triggerer wait on shared watches.
This module stays import-light: `_kube` and `_armada` import the package root and must not pull
in Airflow through it.
"""

__version__ = "0.1.0"
