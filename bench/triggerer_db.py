"""The triggerer mode's database side, run in the contender's virtualenv (its Airflow, its triggers).

    python -m bench.triggerer_db seed --spec SPEC.json
    python -m bench.triggerer_db collect --spec SPEC.json

``seed``: one DagRun of ``bench_triggerer`` (serialized beforehand by ``airflow dags
reserialize``) and its N mapped task instances put into the state a deferral leaves them in:
``deferred``, with a trigger row built from the contender's trigger for that object, written the
way Airflow's execution API writes a worker's ``DeferTask`` (classpath, serde-encoded kwargs,
``next_method``/``next_kwargs``). Airflow deletes trigger rows no deferred task instance points
at, so the task instances are what keeps the triggers alive, as in a real deployment.

``collect``: per object, whether its task instance left ``deferred`` and when: the triggerer's
main process sets ``scheduled_dttm`` when it writes the TriggerEvent into the task instance
(``Trigger.submit_event``), and the event's payload goes to ``next_kwargs["event"]``. Writes
``triggerer_events.json``: ``{name: {"time": epoch, "outcome": ...}}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path
from typing import Any

from airflow.models.dagbag import DBDagBag
from airflow.models.taskinstance import TaskInstance
from airflow.models.trigger import Trigger
from airflow.sdk import timezone
from airflow.sdk.serde import deserialize, serialize
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState, TaskInstanceState
from airflow.utils.types import DagRunTriggeredByType, DagRunType
from sqlalchemy import select

DAG_ID, TASK_ID = "bench_triggerer", "wait"  # as in bench/airflow_dag.py
RUN_ID = "manual__bench"
NEXT_METHOD = "execute_complete"


def _task_instances(session: Any) -> list[Any]:
    query = select(TaskInstance).where(
        TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == RUN_ID, TaskInstance.task_id == TASK_ID
    )
    return sorted(session.scalars(query), key=lambda ti: ti.map_index)


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def seed(spec: dict[str, Any], workdir: Path) -> None:
    # what loading the trigger classes costs a process that has Airflow loaded already: the
    # triggerer's idle baseline lacks it, the isolated loop's baseline holds it
    before = _rss()
    module = importlib.import_module(spec["module"])
    (workdir / "import_rss.json").write_text(json.dumps({"bytes": _rss() - before}))
    objects: dict[str, str] = json.loads((workdir / "objects.json").read_text())
    triggers = module.make_triggers(
        kind=spec["kind"], namespace=spec["namespace"], objects=objects, conn_id=spec["conn_id"]
    )
    names = sorted(triggers)
    now = timezone.utcnow()
    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag(DAG_ID, session=session)
        if dag is None:
            raise SystemExit(f"DAG {DAG_ID} is not serialized: run `airflow dags reserialize` first")
        dag.create_dagrun(
            run_id=RUN_ID,
            run_after=now,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.CLI,
            state=DagRunState.RUNNING,
            start_date=now,
            session=session,
        )
        session.flush()
        tis = _task_instances(session)
        if [ti.map_index for ti in tis] != list(range(len(names))):
            raise SystemExit(f"expected map indexes 0..{len(names) - 1}, got {len(tis)} task instances")
        for ti, name in zip(tis, names, strict=True):
            # what the execution API does with a worker's DeferTask (routes/task_instances.py)
            classpath, kwargs = triggers[name].serialize()
            row = Trigger(classpath=classpath, kwargs={})
            row.encrypted_kwargs = json.dumps(serialize(kwargs))
            session.add(row)
            session.flush()
            ti.try_number = 1
            ti.start_date = now
            ti.scheduled_dttm = None  # set again by the triggerer when it writes the event
            ti.state = TaskInstanceState.DEFERRED
            ti.trigger_id = row.id
            ti.next_method = NEXT_METHOD
            ti.next_kwargs = serialize({})
    print(f"seeded {len(names)} deferred task instances", flush=True)


def collect(spec: dict[str, Any], workdir: Path) -> None:
    module = importlib.import_module(spec["module"])
    names = sorted(json.loads((workdir / "objects.json").read_text()))
    events: dict[str, dict[str, Any]] = {}
    with create_session() as session:
        for ti, name in zip(_task_instances(session), names, strict=True):
            if ti.state == TaskInstanceState.DEFERRED or ti.scheduled_dttm is None:
                continue
            next_kwargs = deserialize(ti.next_kwargs) if ti.next_kwargs else {}
            if ti.next_method == NEXT_METHOD and "event" in next_kwargs:
                outcome = module.outcome(next_kwargs["event"])
            else:  # Trigger.submit_failure: the trigger crashed or exited without an event
                outcome = f"trigger failure: {ti.next_method} {next_kwargs}"[:500]
            events[name] = {"time": ti.scheduled_dttm.timestamp(), "outcome": outcome}
    (workdir / "triggerer_events.json").write_text(json.dumps(events))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("seed", "collect"))
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    (seed if args.command == "seed" else collect)(spec, args.spec.parent)
