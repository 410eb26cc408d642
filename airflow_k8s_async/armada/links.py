"""Extra links of the ArmadaOperator: values pushed to XCom ``armada_<name>_url`` by the task.

Airflow 3 serializes a link as its name and ``xcom_key``; the UI shows the XCom value.
"""

from __future__ import annotations

from typing import Any

import attrs
from airflow.sdk import BaseOperatorLink

__all__ = [
    "DynamicLink",
    "LookoutLink",
    "link_xcom_key",
]


def link_xcom_key(name: str) -> str:
    return f"armada_{name.lower()}_url"


@attrs.define(init=True)
class DynamicLink(BaseOperatorLink):
    """A link named by the task (``extra_links``), its URL written to XCom while the task runs."""

    name: str

    @property
    def xcom_key(self) -> str:
        return link_xcom_key(self.name)

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.models import XCom

        value = XCom.get_value(ti_key=ti_key, key=self.xcom_key)
        return str(value or "")


@attrs.define(init=True)
class LookoutLink(DynamicLink):
    """The job's page in Lookout (``lookout_url_template`` with ``<job_id>`` filled in)."""

    name: str = "Lookout"
