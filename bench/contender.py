"""One contender: every trigger in ONE asyncio event loop, as the triggerer runs them.

    python -m bench.contender --spec SPEC.json

Reads the objects the bench kubelet created, builds one trigger per object with the contender's
module, runs each trigger's ``run()`` to its first event in its own task (then ``cleanup()``),
and writes ``contender.json``: per-object event time and outcome, CPU, RSS, loop lag, API
connections and its own requests. ``ready`` is written once every trigger runs; the steady
window starts there.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
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


async def main(spec: dict[str, Any], workdir: Path, counter: probe.RequestCounter) -> dict[str, Any]:
    module = importlib.import_module(spec["module"])
    objects: dict[str, str] = json.loads((workdir / "objects.json").read_text())
    cpu0, rss0, wall0 = probe.cpu_seconds(), probe.rss_bytes(), time.time()
    samplers = probe.Samplers(api_port=spec["api_port"])
    samplers.start()
    triggers = module.make_triggers(
        kind=spec["kind"], namespace=spec["namespace"], objects=objects, conn_id=spec["conn_id"]
    )
    events: dict[str, dict[str, Any]] = {}
    tasks = [asyncio.create_task(_run_one(t, name, events, module.outcome)) for name, t in triggers.items()]
    await asyncio.sleep(SETTLE_SECONDS)
    counter.window = "steady"
    cpu1, ready = probe.cpu_seconds(), time.time()
    (workdir / "ready").write_text(str(ready))
    _, pending = await asyncio.wait(tasks, timeout=spec["timeout"])
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    cpu2, end = probe.cpu_seconds(), time.time()
    await samplers.stop()
    if hasattr(module, "close"):
        await module.close()
    return {
        "started": wall0,
        "ready": ready,
        "end": end,
        "events": events,
        "timed_out": len(pending),
        "cpu": {"startup": cpu1 - cpu0, "steady": cpu2 - cpu1},
        "rss": {"baseline": rss0, "peak_sampled": max((s[1] for s in samplers.samples), default=rss0)},
        "peak_rss_process": probe.peak_rss_bytes(),
        "samples": samplers.samples,
        "lags": samplers.lags,
        "requests": {window: dict(c) for window, c in counter.windows.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    counter = probe.RequestCounter()
    counter.install()  # before any client session exists
    # Trigger logs would go to task logs; here they would only cost both contenders the same.
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(main(spec, args.spec.parent, counter))
    (args.spec.parent / "contender.json").write_text(json.dumps(result))
