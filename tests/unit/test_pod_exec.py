"""KubernetesPodExecOperator's pieces that need no cluster (the rest: tests/integration)."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG, task

from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.pod_exec import LINE_LIMIT, KubernetesPodExecOperator, _Lines
from airflow_k8s_async.operators.resource import KubernetesCreateResourceOperator


class Said:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, fmt: str, *args: object) -> None:
        self.lines.append(fmt % args)


def shown(*chunks: bytes) -> list[str]:
    log = Said()
    lines = _Lines(log=log, name="stdout")
    for chunk in chunks:
        lines.feed(chunk)
    lines.close()
    return log.lines


def test_lines_wait_for_their_end_and_characters_split_across_chunks_stay_whole() -> None:
    euro = "€".encode()
    assert shown(b"one\ntw", b"o\r\n", euro[:1], euro[1:] + b"\n", b"last") == [
        "[stdout] one",
        "[stdout] two",
        "[stdout] €",
        "[stdout] last",
    ]


def test_a_line_without_end_is_shown_in_pieces_cut_between_characters() -> None:
    text = ("a" + "é" * LINE_LIMIT).encode()  # two bytes each, odd offset: LINE_LIMIT splits one
    pieces = shown(*(text[i : i + 1000] for i in range(0, len(text), 1000)))
    assert "".join(p.removeprefix("[stdout] ") for p in pieces) == "a" + "é" * LINE_LIMIT
    assert len(pieces) == 3 and "\ufffd" not in "".join(pieces)


def test_values_known_only_when_the_task_runs_are_checked_then() -> None:
    with DAG("parse"):

        @task
        def upstream() -> str:
            return "x"

        made = upstream()
        KubernetesPodExecOperator(task_id="exec", pod_name="p", command=made)
        KubernetesCreateResourceOperator(task_id="create", yaml_conf=made)
        KubernetesPodExecOperator(task_id="jinja", pod_name="p", command="{{ params.command }}")
    with pytest.raises(ConfigurationError, match="give a list of strings"):
        KubernetesPodExecOperator(task_id="exec", pod_name="p", command="echo hi")
    with pytest.raises(ConfigurationError, match="non-empty list"):
        KubernetesPodExecOperator(task_id="exec", pod_name="p", command=[])
