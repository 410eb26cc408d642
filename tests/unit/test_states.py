"""State rules against bodies captured from a real API server (tests/fixtures/kube), plus plain dicts
for the rules that a Kubernetes 1.20 cluster cannot produce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from airflow_k8s_async._kube.states import (
    ObjectState,
    Phase,
    generic_state,
    job_state,
    main_container_name,
    object_state,
    pod_state,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kube"


def load(case: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return body


class Expect(NamedTuple):
    phase: Phase
    reason: str
    exit_code: int | None = None
    container: str | None = None
    words: tuple[str, ...] = ()


EXPECTED: dict[str, Expect] = {
    # captured from the real cluster
    "pod_succeeded": Expect(Phase.SUCCEEDED, "Completed", 0, "base", ("'base'", "code 0")),
    "pod_failed_exit3": Expect(Phase.FAILED, "Error", 3, "base", ("'base'", "code 3", "Error")),
    "pod_err_image_never_pull": Expect(
        Phase.FAILED, "ErrImageNeverPull", None, "base", ("'base'", "doesnotexist:1", "Never")
    ),
    "pod_invalid_image_name": Expect(
        Phase.FAILED, "InvalidImageName", None, "base", ("'base'", "UPPER/case::bad")
    ),
    "pod_unschedulable": Expect(
        Phase.PENDING, "Unschedulable", None, None, ("0/1 nodes are available", "node affinity")
    ),
    "pod_create_container_config_error": Expect(
        Phase.FAILED, "CreateContainerConfigError", None, "base", ("'base'", '"missing"', "not found")
    ),
    "pod_oomkilled": Expect(Phase.FAILED, "OOMKilled", 137, "base", ("'base'", "code 137", "OOMKilled")),
    "pod_running": Expect(Phase.RUNNING, ""),
    "pod_crash_loop_backoff": Expect(Phase.RUNNING, "CrashLoopBackOff", None, "base", ("back-off",)),
    "pod_main_done_sidecar_running": Expect(Phase.SUCCEEDED, "Completed", 0, "base", ("'base'", "code 0")),
    "pod_main_failed_sidecar_running": Expect(
        Phase.FAILED, "Error", 4, "base", ("'base'", "code 4", "Error")
    ),
    "pod_init_failed": Expect(Phase.FAILED, "Error", 5, "init", ("init container 'init'", "code 5")),
    "job_complete": Expect(Phase.SUCCEEDED, "Complete"),
    "job_backoff_limit": Expect(Phase.FAILED, "BackoffLimitExceeded", words=("backoff limit",)),
    "job_deadline_exceeded": Expect(Phase.FAILED, "DeadlineExceeded", words=("deadline",)),
    "job_running": Expect(Phase.RUNNING, ""),
    # hand-written custom kinds
    "custom_tekton_taskrun_failed": Expect(Phase.FAILED, "Failed", words=("step-build", "code 1")),
    "custom_argo_workflow_succeeded": Expect(Phase.SUCCEEDED, "Succeeded"),
    "custom_conditions_failed": Expect(Phase.FAILED, "WorkerCrashed", words=("worker-0",)),
    "custom_no_status": Expect(Phase.PENDING, ""),
}


def test_every_fixture_has_an_expectation() -> None:
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_fixture(case: str) -> None:
    expect = EXPECTED[case]
    state = object_state(load(case))
    assert (state.phase, state.reason, state.exit_code, state.container) == (
        expect.phase,
        expect.reason,
        expect.exit_code,
        expect.container,
    )
    for word in expect.words:
        assert word in state.message
    assert state.terminal == (expect.phase in (Phase.SUCCEEDED, Phase.FAILED))


# -- pods: main container --------------------------------------------------------------------


def test_main_container_name_order() -> None:
    pod = load("pod_main_done_sidecar_running")
    assert main_container_name(pod) == "base"
    pod["spec"]["containers"].reverse()
    assert main_container_name(pod) == "base"  # "base" wins over position
    pod["spec"]["containers"][1]["name"] = "main"
    assert main_container_name(pod) == "sidecar"  # else the first container
    pod["metadata"]["annotations"] = {"kubernetes_job_operator.main_container": "main"}
    assert main_container_name(pod) == "main"
    assert main_container_name(pod, main_container="other") == "other"


def test_main_container_from_annotation() -> None:
    # The sidecar is named main: it is still running, so the pod is too, whatever "base" did.
    pod = load("pod_main_failed_sidecar_running")
    pod.setdefault("metadata", {})["annotations"] = {"kubernetes_job_operator.main_container": "sidecar"}
    state = pod_state(pod)
    assert state.phase is Phase.RUNNING
    assert not state.terminal


def test_explicit_main_container_overrides_annotation() -> None:
    pod = load("pod_main_failed_sidecar_running")
    pod.setdefault("metadata", {})["annotations"] = {"kubernetes_job_operator.main_container": "sidecar"}
    state = pod_state(pod, main_container="base")
    assert (state.phase, state.exit_code, state.container) == (Phase.FAILED, 4, "base")
    assert (
        object_state(load("pod_main_done_sidecar_running"), main_container="sidecar").phase is Phase.RUNNING
    )


# -- pods: rules not captured ----------------------------------------------------------------


def _waiting_pod(reason: str, message: str = "") -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "spec": {"restartPolicy": "Never", "containers": [{"name": "base"}]},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "base", "state": {"waiting": {"reason": reason, "message": message}}}
            ],
        },
    }


def test_err_image_pull_is_not_fatal_but_back_off_is() -> None:
    assert pod_state(_waiting_pod("ErrImagePull")) == ObjectState(
        Phase.PENDING, "ErrImagePull", "", container="base"
    )
    state = pod_state(_waiting_pod("ImagePullBackOff", 'Back-off pulling image "x:1"'))
    assert (state.phase, state.reason, state.container) == (Phase.FAILED, "ImagePullBackOff", "base")
    assert 'pulling image "x:1"' in state.message


def test_fatal_reason_on_an_init_container() -> None:
    pod = _waiting_pod("PodInitializing")
    pod["status"]["initContainerStatuses"] = [
        {"name": "setup", "state": {"waiting": {"reason": "CreateContainerError"}}}
    ]
    state = pod_state(pod)
    assert (state.phase, state.reason, state.container) == (Phase.FAILED, "CreateContainerError", "setup")


@pytest.mark.parametrize(("restart", "phase"), [("Never", Phase.FAILED), ("OnFailure", Phase.PENDING)])
def test_failed_init_container_while_pending(restart: str, phase: Phase) -> None:
    pod = load("pod_init_failed")
    pod["status"]["phase"] = "Pending"
    pod["spec"]["restartPolicy"] = restart
    state = pod_state(pod)
    assert state.phase is phase
    if phase is Phase.FAILED:
        assert (state.exit_code, state.container) == (5, "init")
        assert "init container 'init'" in state.message and "code 5" in state.message


def test_pod_level_reason_wins_when_failed() -> None:
    pod = load("pod_failed_exit3")
    pod["status"].update(
        reason="DeadlineExceeded", message="Pod was active on the node longer than specified"
    )
    state = pod_state(pod)
    assert (state.phase, state.reason, state.exit_code) == (Phase.FAILED, "DeadlineExceeded", 3)
    assert "longer than specified" in state.message and "code 3" in state.message


def test_evicted_pod_without_terminated_container() -> None:
    pod = {"kind": "Pod", "status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}}
    assert pod_state(pod) == ObjectState(Phase.FAILED, "Evicted", "low on memory")


def test_exit_code_falls_back_to_last_state() -> None:
    pod = load("pod_failed_exit3")
    base = pod["status"]["containerStatuses"][0]
    base["lastState"], base["state"] = base["state"], {"waiting": {"reason": "Unknown"}}
    assert pod_state(pod).exit_code == 3


@pytest.mark.parametrize("phase", ["Unknown", "", None])
def test_unknown_or_missing_phase_is_pending(phase: str | None) -> None:
    pod: dict[str, Any] = {
        "kind": "Pod",
        "spec": {"containers": [{"name": "base"}]},
        "status": {"phase": phase},
    }
    assert pod_state(pod).phase is Phase.PENDING
    assert pod_state({"kind": "Pod"}).phase is Phase.PENDING


# -- jobs ------------------------------------------------------------------------------------


def _job(*conditions: tuple[str, str], active: int = 0) -> dict[str, Any]:
    return {
        "kind": "Job",
        "apiVersion": "batch/v1",
        "status": {
            "active": active,
            "conditions": [{"type": t, "status": s, "reason": t} for t, s in conditions],
        },
    }


@pytest.mark.parametrize("kind", ["FailureTarget", "SuccessCriteriaMet"])
def test_job_interim_conditions_are_not_terminal(kind: str) -> None:
    assert job_state(_job((kind, "True"), active=1)).phase is Phase.RUNNING
    assert job_state(_job((kind, "True"))).phase is Phase.PENDING
    assert job_state(_job((kind, "True"), ("Failed", "True"))).phase is Phase.FAILED
    assert job_state(_job((kind, "True"), ("Complete", "True"))).phase is Phase.SUCCEEDED


def test_job_conditions_count_only_when_true() -> None:
    assert job_state(_job(("Failed", "False"), ("Complete", "False"), active=2)).phase is Phase.RUNNING


def test_job_suspended() -> None:
    state = job_state(_job(("Suspended", "True")))
    assert (state.phase, state.reason, state.terminal) == (Phase.PENDING, "Suspended", False)


def test_captured_running_job_goes_pending_without_active_pods() -> None:
    body = load("job_running")
    assert job_state(body).phase is Phase.RUNNING
    body["status"].pop("active", None)
    assert job_state(body).phase is Phase.PENDING


# -- custom kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "phase", "reason"),
    [
        ({"conditions": [{"type": "Complete", "status": "True"}]}, Phase.SUCCEEDED, "Complete"),
        (
            {"conditions": [{"type": "Completed", "status": "True", "reason": "Done"}]},
            Phase.SUCCEEDED,
            "Done",
        ),
        ({"conditions": [{"type": "Failure", "status": "True"}]}, Phase.FAILED, "Failure"),
        ({"conditions": [{"type": "Succeeded", "status": "True", "reason": "Ok"}]}, Phase.SUCCEEDED, "Ok"),
        (
            {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}]},
            Phase.PENDING,
            "",
        ),
        (
            {"conditions": [{"type": "Failed", "status": "False"}], "phase": "running"},
            Phase.RUNNING,
            "running",
        ),
        (  # failure wins whatever the order
            {"conditions": [{"type": "Complete", "status": "True"}, {"type": "Failed", "status": "True"}]},
            Phase.FAILED,
            "Failed",
        ),
        ({"phase": "completed"}, Phase.SUCCEEDED, "completed"),
        ({"phase": "DONE"}, Phase.SUCCEEDED, "DONE"),
        ({"phase": "Error", "message": "boom"}, Phase.FAILED, "Error"),
        ({"phase": "Failure"}, Phase.FAILED, "Failure"),
        ({"phase": "Queued"}, Phase.PENDING, "Queued"),
    ],
)
def test_generic(status: dict[str, Any], phase: Phase, reason: str) -> None:
    state = generic_state({"kind": "Thing", "status": status})
    assert (state.phase, state.reason) == (phase, reason)


def test_conditions_win_over_phase() -> None:
    state = generic_state(load("custom_conditions_failed"))
    assert state.phase is Phase.FAILED  # its phase still says Running


def test_dispatch_on_kind_and_group() -> None:
    not_batch = {"kind": "Job", "apiVersion": "example.com/v1", "status": {"phase": "Failed"}}
    assert object_state(not_batch).phase is Phase.FAILED  # generic rules, not Job rules
    assert job_state(not_batch).phase is Phase.PENDING
    assert (
        object_state({"kind": "Pod", "apiVersion": "v1", "status": {"phase": "Succeeded"}}).phase
        is Phase.SUCCEEDED
    )
