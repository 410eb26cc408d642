"""KubernetesPodOperator: build the pod, create (or adopt) it, defer to the trigger, finish.

Drop-in for the cncf.kubernetes provider's operator: the same keywords with the same meaning.
The pod is built in one place (``_kube.podspec.build_pod``: template / full spec, then keywords on
top). ``deferrable=True`` is the default; ``deferrable=False`` runs the very same trigger loop
inline on the worker, so both modes share one code path.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import yaml
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowSkipException, AirflowTaskTimeout
from airflow.triggers.base import StartTriggerArgs
from airflow.version import version as airflow_version

from airflow_k8s_async._kube.client import get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from airflow_k8s_async._kube.podspec import (
    PodKeywords,
    build_pod,
    validate_pod,
    with_defaults,
)
from airflow_k8s_async._kube.podsubmit import create_or_adopt, ownership_labels
from airflow_k8s_async._kube.states import pod_state
from airflow_k8s_async.errors import AirflowK8sAsyncError, ConfigurationError
from airflow_k8s_async.hooks.kubernetes import DEFAULT_CONN_ID, KubeTarget
from airflow_k8s_async.operators.podkeywords import api_value, exit_codes, log_choice, pod_actions
from airflow_k8s_async.operators.podstart import start_trigger_args
from airflow_k8s_async.operators.shared import (
    KubeOperatorMixin,
    checked_max_log_bytes,
    checked_seconds,
    task_identity,
)
from airflow_k8s_async.operators.shared import wait_before_defer_seconds as wait_before_defer_seconds_default
from airflow_k8s_async.operators.sync import run_kill, run_sync
from airflow_k8s_async.triggers.finish import FinishPlan, apply_finish_action, deletes_at_end, outcome
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger

__all__ = [
    "KubernetesPodOperator",
]

if TYPE_CHECKING:
    # The pod keywords are the operator's attributes, set from PodKeywords' fields in __init__:
    # the type checker reads their declarations there (nothing is inherited at run time).
    _PodKeywordAttributes = PodKeywords
else:
    _PodKeywordAttributes = object


class KubernetesPodOperator(KubeOperatorMixin, BaseOperator, _PodKeywordAttributes):
    """Run a pod; the task defers while it runs and the trigger ends it (see triggers/finish.py).

    Pod keywords (``image``, ``cmds``, ``arguments``, ``env_vars``, ``volumes``, ``secrets``,
    ``pod_template_file``, ``full_pod_spec``, ...) have the provider's names and meaning; see
    ``_kube/podspec.py`` for where each lands and docs/pod-operator.md for the full reference.

    :param kubernetes_conn_id: Airflow connection (cncf.kubernetes format); ``None`` for none.
    :param in_cluster / config_file / cluster_context: override the connection.
    :param deferrable: default True. False runs the same wait inline, holding the worker slot.
    :param get_logs / container_logs / init_container_logs: containers whose logs stream into the
        task log while it runs (True: the base container / all init containers).
    :param container_name_log_prefix_enabled: prefix log lines with ``[container]`` (default True).
    :param max_log_bytes: the task's log budget in bytes: past it, one line says so and the log is
        not shown further (the task goes on); 0: none (default ``[kubernetes_async] max_log_bytes``,
        100 MiB).
    :param startup_timeout_seconds: from scheduling to a started container (default 120).
    :param schedule_timeout_seconds: from creation to scheduling (default: startup timeout).
        Image and configuration errors (ErrImageNeverPull, InvalidImageName, ImagePullBackOff,
        CreateContainerConfigError) fail at once with the reason.
    :param reattach_on_restart: a retry or restarted worker adopts the pod an earlier try created
        (default True) instead of creating a second one.
    :param on_finish_action: ``delete_pod`` (default), ``delete_succeeded_pod``, ``delete_active_pod``
        (only a pod still Pending or Running at the end) or ``keep_pod``;
        a kept pod is labelled ``already_checked=True`` so no later try adopts it.
    :param on_kill_action: ``delete_pod`` (default) or ``keep_pod`` when the task is killed,
        cleared or marked failed while it waits.
    :param skip_on_exit_code: exit code(s) of the base container that end the task as skipped.
    :param log_events_on_failure: write the pod's events into the task log when it fails.
    :param wait_before_defer_seconds: opt-in: wait this long on the worker (holding its slot)
        before deferring (default ``[kubernetes_async] wait_before_defer_seconds``, 0: defer at once).
    :param start_from_trigger: start the task in the triggerer, which renders the templates,
        creates the pod and ends the task; it never runs on a worker (default
        ``[kubernetes_async] start_from_trigger``, False; Airflow >= 3.3).
    :param do_xcom_push: push the JSON in ``/airflow/xcom/return.json`` (read by the trigger
        before the pod can be deleted).
    :param poll_interval / startup_check_interval_seconds / base_container_status_polling_interval /
        logging_interval / durable / log_events_on_startup / log_pod_spec_on_failure / callbacks /
        progress_callback / trigger_kwargs / log_formatter: accepted for compatibility, no effect
        (nothing is polled; logs stream continuously).
    """

    template_fields: Sequence[str] = (
        "image",
        "name",
        "hostname",
        "cmds",
        "annotations",
        "arguments",
        "env_vars",
        "labels",
        "config_file",
        "pod_template_file",
        "pod_template_dict",
        "namespace",
        "container_resources",
        "volumes",
        "volume_mounts",
        "cluster_context",
        "env_from",
        "configmaps",
        "node_selector",
        "kubernetes_conn_id",
        "base_container_name",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"env_vars": "py"}

    def __init__(
        self,
        *,
        kubernetes_conn_id: str | None = DEFAULT_CONN_ID,
        in_cluster: bool | None = None,
        config_file: str | None = None,
        cluster_context: str | None = None,
        # pod keywords: PodKeywords' fields, same names and defaults as the provider
        image: str | None = None,
        name: str | None = None,
        random_name_suffix: bool = True,
        namespace: str | None = None,
        cmds: list[str] | None = None,
        arguments: list[str] | None = None,
        ports: list[Any] | None = None,
        volume_mounts: list[Any] | None = None,
        volumes: list[Any] | None = None,
        env_vars: list[Any] | dict[str, str] | None = None,
        env_from: list[Any] | None = None,
        secrets: list[Any] | None = None,
        labels: dict[str, Any] | None = None,
        annotations: dict[str, Any] | None = None,
        base_container_name: str | None = None,
        image_pull_policy: str | None = None,
        container_resources: Any = None,
        affinity: Any = None,
        runtime_class_name: str | None = None,
        node_selector: dict[str, str] | None = None,
        image_pull_secrets: str | list[Any] | None = None,
        service_account_name: str | None = None,
        automount_service_account_token: bool | None = None,
        hostnetwork: bool = False,
        host_aliases: list[Any] | None = None,
        tolerations: list[Any] | None = None,
        security_context: Any = None,
        container_security_context: Any = None,
        xcom_sidecar_container_security_context: Any = None,
        dnspolicy: str | None = None,
        dns_config: Any = None,
        hostname: str | None = None,
        subdomain: str | None = None,
        schedulername: str | None = None,
        full_pod_spec: Any = None,
        init_containers: list[Any] | None = None,
        do_xcom_push: bool = False,
        pod_template_file: str | None = None,
        pod_template_dict: dict[str, Any] | None = None,
        priority_class_name: str | None = None,
        pod_runtime_info_envs: list[Any] | None = None,
        termination_grace_period: int | None = None,
        configmaps: list[str] | None = None,
        termination_message_policy: str = "File",
        active_deadline_seconds: int | None = None,
        xcom_sidecar_image: str | None = None,
        xcom_sidecar_resources: Any = None,
        # waiting and finishing
        deferrable: bool = True,
        get_logs: bool = True,
        container_logs: Iterable[str] | str | Literal[True] | None = True,
        init_container_logs: Iterable[str] | str | Literal[True] | None = None,
        container_name_log_prefix_enabled: bool = True,
        max_log_bytes: int | None = None,
        startup_timeout_seconds: int = 120,
        schedule_timeout_seconds: int | None = None,
        reattach_on_restart: bool | None = True,
        on_finish_action: str = "delete_pod",
        on_kill_action: str = "delete_pod",
        is_delete_operator_pod: bool | None = None,
        skip_on_exit_code: int | Container[int] | None = None,
        log_events_on_failure: bool = False,
        wait_before_defer_seconds: float | None = None,
        start_from_trigger: bool | None = None,
        # accepted for compatibility, no effect (see podkeywords.NO_EFFECT)
        poll_interval: float = 2,
        startup_check_interval_seconds: int = 5,
        base_container_status_polling_interval: float = 1,
        logging_interval: int | None = None,
        durable: bool | None = None,
        log_events_on_startup: bool = True,
        log_pod_spec_on_failure: bool = True,
        callbacks: Any = None,
        progress_callback: Any = None,
        trigger_kwargs: dict[str, Any] | None = None,
        log_formatter: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(do_xcom_push=do_xcom_push, **kwargs)
        given = locals()
        for field in fields(PodKeywords):
            if field.name != "do_xcom_push":
                value = given[field.name]
                setattr(
                    self,
                    field.name,
                    value if field.name == "secrets" else api_value(value, where=field.name),
                )
        if pod_template_file and pod_template_dict:  # (the provider silently drops the dict)
            raise ConfigurationError(
                "pod_template_file and pod_template_dict are both given: give one template "
                "(full_pod_spec may be laid over either)"
            )
        on_finish_action, on_kill_action = pod_actions(
            on_finish_action=on_finish_action,
            on_kill_action=on_kill_action,
            is_delete_operator_pod=is_delete_operator_pod,
        )
        self.kubernetes_conn_id = kubernetes_conn_id
        self.in_cluster = in_cluster
        self.config_file = config_file
        self.cluster_context = cluster_context
        self.deferrable = deferrable
        self.get_logs = get_logs
        self.container_logs = log_choice(container_logs)
        self.init_container_logs = log_choice(init_container_logs)
        self.container_name_log_prefix_enabled = container_name_log_prefix_enabled
        self.max_log_bytes = checked_max_log_bytes(max_log_bytes)
        self.startup_timeout_seconds = checked_seconds("startup_timeout_seconds", startup_timeout_seconds)
        self.schedule_timeout_seconds = checked_seconds(
            "schedule_timeout_seconds", schedule_timeout_seconds, optional=True
        )
        self.reattach_on_restart = reattach_on_restart is not False
        self.on_finish_action = on_finish_action
        self.on_kill_action = on_kill_action
        self.skip_on_exit_code = exit_codes(skip_on_exit_code)
        self.log_events_on_failure = log_events_on_failure
        self.wait_before_defer_seconds = wait_before_defer_seconds_default(wait_before_defer_seconds)
        self._init_start_from_trigger(start_from_trigger)
        self._pod_ref: tuple[str, str, str] | None = None  # namespace, name, uid of our pod
        self._cluster: ClusterConfig | None = None  # where it is (execute's connection)

    # -- building --------------------------------------------------------------------------------
    def pod_keywords(self) -> PodKeywords:
        values = {f.name: getattr(self, f.name) for f in fields(PodKeywords) if f.name != "do_xcom_push"}
        return PodKeywords(**values, do_xcom_push=bool(self.do_xcom_push))

    def _ownership_labels(self, context: Context) -> dict[str, str]:
        ti = context["ti"]
        return ownership_labels(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=context["run_id"],
            map_index=ti.map_index,
            try_number=ti.try_number,
            airflow_version=airflow_version,
        )

    def build_pod_request_obj(
        self, context: Context | None = None, *, target: KubeTarget | None = None
    ) -> dict[str, Any]:
        """The pod body this task would create, validated (nothing touches the cluster)."""
        pod = build_pod(
            keywords=with_defaults(self.pod_keywords(), target.pod_defaults if target else {}),
            namespace=(target.namespace if target else None) or "default",
            labels=self._ownership_labels(context) if context else {MANAGED_BY_KEY: MANAGED_BY_VALUE},
            template_base_dir=self._dag_folder(),
            task_id=self.task_id,
        )
        validate_pod(pod)
        return pod

    def dry_run(self) -> None:
        """Print the pod this task would create, as YAML."""
        print(yaml.safe_dump(self.build_pod_request_obj(), sort_keys=False))

    # -- running ---------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        target = self._target()
        pod = self.build_pod_request_obj(context, target=target)
        self._cluster = target.cluster
        created = run_sync(lambda: self._create_or_adopt(target, pod, context))
        meta = created["metadata"]
        self._pod_ref = (meta["namespace"], meta["name"], meta["uid"])
        trigger = self._trigger(context)
        state = pod_state(created, main_container=self._base_container)
        if self.deferrable and not state.terminal:
            # Opt-in (wait_before_defer_seconds > 0): the trigger's own wait on the worker first.
            event = run_sync(lambda: self._wait_briefly(trigger))
            if event is None:
                positions = trigger.current_log_positions()
                finish = self._finish_plan(try_number=context["ti"].try_number)
                trigger = self._trigger(context, log_positions=positions, finish=finish)
                self.log.info("Deferring: the triggerer waits for pod %s/%s", meta["namespace"], meta["name"])
                self.defer(trigger=trigger, method_name="execute_complete")
        else:
            # Not deferrable, or an adopted pod that has already ended: the same wait, inline.
            event = run_sync(trigger.wait)
        return self.execute_complete(context, event)

    @property
    def _base_container(self) -> str:
        return self.base_container_name or "base"

    async def _create_or_adopt(
        self, target: KubeTarget, pod: dict[str, Any], context: Context
    ) -> dict[str, Any]:
        client = await get_client(target.cluster)
        return await create_or_adopt(
            client, pod, identity=task_identity(context), reattach=self.reattach_on_restart, log=self.log
        )

    def _finish_plan(self, *, try_number: int | None) -> dict[str, Any]:
        """What the trigger does at the end, and which outcomes it ends without a worker."""
        ends, why = self._triggerer_ends(try_number=try_number, xcoms=bool(self.do_xcom_push))
        return FinishPlan(
            ends=ends,
            why=why,
            action=self.on_finish_action,
            skip_exit_codes=self.skip_on_exit_code,
            return_value=bool(self.do_xcom_push),
        ).to_dict()

    def _trigger(
        self,
        context: Context,
        *,
        log_positions: dict[str, list[int]] | None = None,
        finish: dict[str, Any] | None = None,
    ) -> KubernetesPodTrigger:
        assert self._pod_ref is not None
        namespace, name, uid = self._pod_ref
        return self._pod_trigger(
            pod_name=name,
            pod_namespace=namespace,
            pod_uid=uid,
            deadline=self._deadline(context),
            log_positions=log_positions,
            finish=finish,
        )

    def _pod_trigger(self, **kwargs: Any) -> KubernetesPodTrigger:
        """The trigger with this task's waiting keywords; ``kwargs``: what identifies the pod."""
        return KubernetesPodTrigger(
            **self._connection_kwargs(),
            base_container_name=self._base_container,
            get_logs=self.get_logs,
            container_logs=self.container_logs,
            init_container_logs=self.init_container_logs,
            container_name_log_prefix_enabled=self.container_name_log_prefix_enabled,
            max_log_bytes=self.max_log_bytes,
            do_xcom_push=bool(self.do_xcom_push),
            startup_timeout=self.startup_timeout_seconds,
            schedule_timeout=self.schedule_timeout_seconds,
            log_events_on_failure=self.log_events_on_failure,
            on_kill_action=self.on_kill_action,
            termination_grace_period=self.termination_grace_period,
            **kwargs,
        )

    def _start_trigger_args(self) -> StartTriggerArgs:
        """``start_from_trigger``: the trigger that creates the pod and waits (``operators/podstart.py``)."""
        return start_trigger_args(self)

    # -- finishing -------------------------------------------------------------------------------
    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Resume after the trigger (when the triggerer did not end the task itself): the same
        rules as the trigger's (``triggers/finish.py``), then ``on_finish_action``."""
        plan = FinishPlan(
            action=self.on_finish_action,
            skip_exit_codes=self.skip_on_exit_code,
            return_value=bool(self.do_xcom_push),
        )
        result = outcome(event, plan=plan)
        try:
            if result.state == "success":
                self.log.info("%s", result.message)
                return result.xcoms.get("return_value")
            if result.state == "skipped":
                raise AirflowSkipException(result.message)
            if result.timeout:
                raise AirflowTaskTimeout(result.message)
            raise AirflowException(result.message)
        finally:
            self._finish_pod(event)

    def _finish_pod(self, event: Mapping[str, Any]) -> None:
        async def finish() -> None:
            client = await get_client(self._target().cluster)
            await apply_finish_action(client, event, action=self.on_finish_action, log=self.log)

        try:
            run_sync(finish)
        except AirflowK8sAsyncError as exc:  # never hide the task's own outcome behind this
            self.log.warning("Could not finish pod %s/%s: %s", event.get("namespace"), event.get("name"), exc)

    def deletes_at_finish(self, event: Mapping[str, Any]) -> bool:
        """Whether ``on_finish_action`` deletes the pod the trigger's ``event`` is about."""
        return deletes_at_end(self.on_finish_action, event)

    def on_kill(self) -> None:
        """Worker-side kill (``deferrable=False``): delete the pod, as the trigger does when deferred."""
        if self._pod_ref is None or self._cluster is None or self.on_kill_action != "delete_pod":
            return
        namespace, name, uid = self._pod_ref
        event = {"namespace": namespace, "name": name, "uid": uid, "status": "killed"}
        cluster = self._cluster  # execute's: no connection lookup in a signal handler

        async def delete() -> None:
            await apply_finish_action(await get_client(cluster), event, action="delete_pod", log=self.log)

        run_kill(delete)
