"""One contender: every trigger in ONE asyncio event loop, as the triggerer runs them.

    python -m bench.contender --spec SPEC.json

Reads the objects the bench kubelet created, builds one trigger per object with the contender's
module, runs each trigger's ``run()`` to its first event in its own task (then ``cleanup()``),
and writes ``contender.json``: per-object event time and outcome, CPU, RSS, loop lag, API
connections and its own requests. ``ready`` is written once every trigger runs; the steady
window starts there.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import time
from pathlib import Path
from typing import Any

from bench import probe

SETTLE_SECONDS = 1.0  # after the last trigger started, before the steady window


async def _run_one(trigger: Any, name: str, events: dict[str, dict[str, Any]], outcome: Any) -> None:
    runner = trigger.run()
    try:
        event = await runner.__anext__()
        events[name] = {"time": time.time(), "outcome": outcome(event.payload)}
    except Exception as exc:  # a crashed trigger is a wrong outcome, not a crashed benchmark
        events[name] = {"time": time.time(), "outcome": f"crashed: {exc!r}"}
    finally:
        await runner.aclose()
        await trigger.cleanup()


async def main(spec: dict[str, Any], workdir: Path, *, counter: probe.RequestCounter) -> dict[str, Any]:
    module = importlib.import_module(spec["module"])
    objects: dict[str, str] = json.loads((workdir / "objects.json").read_text())
    measurement = probe.Measurement(port=spec["api_port"])
    triggers = module.make_triggers(
        kind=spec["kind"], namespace=spec["namespace"], objects=objects, conn_id=spec["conn_id"]
    )
    events: dict[str, dict[str, Any]] = {}
    tasks = [asyncio.create_task(_run_one(t, name, events, module.outcome)) for name, t in triggers.items()]
    await asyncio.sleep(SETTLE_SECONDS)
    counter.window = "steady"
    measurement.ready(workdir)
    await measurement.finish(tasks, timeout=spec["timeout"])
    if hasattr(module, "close"):
        await module.close()
    return {
        **measurement.figures(),
        "events": events,
        "requests": {window: dict(c) for window, c in counter.windows.items()},
    }


if __name__ == "__main__":
    counter = probe.RequestCounter()
    probe.contender_main(
        description=__doc__.splitlines()[0],
        install=lambda spec: counter.install(),  # before any client session exists
        main=functools.partial(main, counter=counter),
    )
