"""``suspend`` templates with a ``duration``: wait, then succeed (deferred to the triggerer)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_argo_provider.manifest.durations import DurationError, parse_duration
from airflow_argo_provider.operators.base import ArgoNodeOperator
from airflow_argo_provider.runtime.step import Invocation, RawOutcome


class ArgoSuspendOperator(ArgoNodeOperator):
    """Waits for the template's ``suspend.duration``; output parameters take their defaults."""

    ui_color = "#fff4d6"

    def run_invocation(self, invocation: Invocation, context: Any, timeout: float | None) -> RawOutcome:
        raw = (invocation.template.get("suspend") or {}).get("duration")
        try:
            seconds = parse_duration(raw) or 0.0
        except DurationError as exc:
            return RawOutcome(exit_code=None, message=str(exc), error=True)
        if seconds > 0 and invocation.index is None and not context.get("argo_resumed"):
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger

            moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
            self.defer(trigger=DateTimeTrigger(moment=moment), method_name="resume")
        elif seconds > 0 and not context.get("argo_resumed"):
            time.sleep(seconds)
        return RawOutcome(exit_code=0, result="")

    def resume(self, context: Any, event: Any = None) -> Any:
        """Back from the triggerer: the wait is over, finish the node."""
        context["argo_resumed"] = True
        return self.execute(context)
