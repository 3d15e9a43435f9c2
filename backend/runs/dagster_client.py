"""The one seam from Django to Dagster: typed calls to the webserver's GraphQL API.

Backend never imports Dagster. Every document sent is a module constant listed in
``DOCUMENTS``, so a test validates them all against the live server's schema. Dagster
reports most failures as typed results (``__typename``), sometimes with HTTP 500: the
client reads the body whatever the status and turns failures into ``OrchestratorError``
(Dagster answered, but no) or ``OrchestratorUnavailable`` (Dagster did not answer).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from backend.runs.errors import LaunchpadError, OrchestratorError, OrchestratorUnavailable

__all__ = [
    "DOCUMENTS",
    "DagsterClient",
    "LaunchpadError",
    "LocationDefinitions",
    "LocationStatus",
    "OrchestratorError",
    "OrchestratorUnavailable",
    "ReloadResult",
    "RunEvent",
    "RunEvents",
    "RunInfo",
    "SensorState",
]

LOCATION_NAME = "launchpad"
REPOSITORY_NAME = "__repository__"
ASSET_JOB_NAME = "__ASSET_JOB"
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
UNREACHABLE_MESSAGE = "The orchestrator (Dagster) cannot be reached right now. Please try again in a minute."
NOT_ANSWERING_MESSAGE = "The orchestrator (Dagster) is not answering properly right now. Please try again in a minute."

# ------------------------------------------------------------------------------ documents

_FRAGMENTS = {
    "PythonErrorFields": """
fragment PythonErrorFields on PythonError {
  className
  message
  stack
  causes { className message stack }
}
""",
    "RunFields": """
fragment RunFields on Run {
  runId
  status
  startTime
  endTime
  tags { key value }
}
""",
    "LocationEntryFields": """
fragment LocationEntryFields on WorkspaceLocationEntry {
  name
  loadStatus
  locationOrLoadError {
    __typename
    ... on PythonError { ...PythonErrorFields }
  }
}
""",
}


def _document(operation: str) -> str:
    """The operation followed by every fragment it spreads, directly or not: each document stands alone."""
    text, added = operation, set()
    while missing := [n for n in _FRAGMENTS if f"...{n}" in text and n not in added]:
        added.update(missing)
        text += "".join(_FRAGMENTS[n] for n in missing)
    return text


LAUNCH_RUN = _document("""
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
    ... on PythonError { ...PythonErrorFields }
    ... on RunConfigValidationInvalid { errors { message path } }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
  }
}
""")

RUNS = _document("""
query Runs($filter: RunsFilter!, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results { ...RunFields } }
    ... on Error { message }
    ... on PythonError { ...PythonErrorFields }
  }
}
""")

RUN_EVENTS = _document("""
query RunEvents($runId: ID!, $afterCursor: String, $limit: Int) {
  logsForRun(runId: $runId, afterCursor: $afterCursor, limit: $limit) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message timestamp level stepKey }
        ... on ErrorEvent { error { ...PythonErrorFields } }
      }
    }
    ... on Error { message }
    ... on PythonError { ...PythonErrorFields }
  }
}
""")

TERMINATE_RUN = _document("""
mutation TerminateRun($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunSuccess { run { runId status } }
    ... on TerminateRunFailure { message run { runId status } }
    ... on Error { message }
    ... on PythonError { ...PythonErrorFields }
  }
}
""")

RELOAD_LOCATION = _document("""
mutation ReloadLocation($location: String!) {
  reloadRepositoryLocation(repositoryLocationName: $location) {
    __typename
    ... on WorkspaceLocationEntry { ...LocationEntryFields }
    ... on Error { message }
    ... on PythonError { ...PythonErrorFields }
  }
}
""")

LOCATION_STATUS = _document("""
query LocationStatus($location: String!) {
  workspaceLocationEntryOrError(name: $location) {
    __typename
    ... on WorkspaceLocationEntry { ...LocationEntryFields }
    ... on PythonError { ...PythonErrorFields }
  }
}
""")

LOCATION_DEFINITIONS = _document("""
query LocationDefinitions($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository {
      assetNodes { assetKey { path } }
      sensors { name }
    }
    ... on Error { message }
    ... on PythonError { ...PythonErrorFields }
  }
}
""")

SENSOR = _document("""
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { id name sensorState { status } }
    ... on Error { message }
    ... on PythonError { ...PythonErrorFields }
  }
}
""")

START_SENSOR = _document("""
mutation StartSensor($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { id name sensorState { status } }
    ... on Error { message }
    ... on PythonError { ...PythonErrorFields }
  }
}
""")

STOP_SENSOR = _document("""
mutation StopSensor($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { name status } }
    ... on Error { message }
    ... on PythonError { ...PythonErrorFields }
  }
}
""")

ASSET_CHECKS = _document("""
query AssetChecks($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode {
      assetChecksOrError {
        __typename
        ... on AssetChecks { checks { name blocking } }
      }
    }
    ... on Error { message }
  }
}
""")

ASSET_CHECK_EXECUTIONS = _document("""
query AssetCheckExecutions($assetKey: AssetKeyInput!, $checkName: String!, $limit: Int!) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, limit: $limit) {
    runId status timestamp
  }
}
""")

# Operation name -> document; the operation inside each document carries the same name.
DOCUMENTS: dict[str, str] = {
    "AssetChecks": ASSET_CHECKS,
    "AssetCheckExecutions": ASSET_CHECK_EXECUTIONS,
    "LaunchRun": LAUNCH_RUN,
    "Runs": RUNS,
    "RunEvents": RUN_EVENTS,
    "TerminateRun": TERMINATE_RUN,
    "ReloadLocation": RELOAD_LOCATION,
    "LocationStatus": LOCATION_STATUS,
    "LocationDefinitions": LOCATION_DEFINITIONS,
    "Sensor": SENSOR,
    "StartSensor": START_SENSOR,
    "StopSensor": STOP_SENSOR,
}

# What a user may read when Dagster answers with one of these types.
_PLAIN_MESSAGES = {
    "PythonError": "The orchestrator hit an internal error.",
    "UnauthorizedError": "The orchestrator does not allow this (Launchpad may be connected to a read-only Dagster).",
    "InvalidSubsetError": "The orchestrator does not know some of the selected imports yet. "
    "Reload the code location and try again.",
    "PipelineNotFoundError": "The orchestrator has nothing to run for this selection yet. "
    "Reload the code location and try again.",
    "RunConfigValidationInvalid": "The orchestrator refused the run's settings.",
    "RunConflict": "The orchestrator already has a run with this id.",
    "RunNotFoundError": "The orchestrator has no record of this run.",
    "SensorNotFoundError": "The orchestrator has no such file sensor. Reload the code location and try again.",
    "RepositoryNotFoundError": "The orchestrator has not loaded the Launchpad code location.",
    "RepositoryLocationNotFound": "The orchestrator has not loaded the Launchpad code location.",
    "ReloadNotSupported": "The orchestrator cannot reload this code location; restart its code server.",
}
_DEFAULT_PLAIN_MESSAGE = "The orchestrator refused the request."
_TRACEBACK_MARKERS = ("\nTraceback (most recent call last)", "\nStack Trace:", "\n\nStack Trace")

# ------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class RunInfo:
    """One Dagster run. ``status`` is Dagster's (QUEUED ... CANCELED); times are Unix seconds."""

    run_id: str
    status: str
    start_time: float | None
    end_time: float | None
    tags: Mapping[str, str]

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class RunEvent:
    """One entry of a run's event log. ``message`` never holds a stack trace; ``detail`` does."""

    timestamp: float
    level: str
    event_type: str
    step_key: str | None
    message: str
    detail: str = ""


@dataclass(frozen=True)
class RunEvents:
    """A page of events; pass ``cursor`` back as ``after_cursor`` for the next page."""

    events: tuple[RunEvent, ...]
    cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class ReloadResult:
    """``ok`` is False when the code location failed to load; ``error`` says why, ``detail`` has the trace."""

    ok: bool
    error: str = ""
    detail: str = ""


@dataclass(frozen=True)
class LocationStatus:
    """``loaded``: the location answers with its definitions; ``error``: why it failed to load."""

    loaded: bool
    error: str = ""


@dataclass(frozen=True)
class LocationDefinitions:
    asset_names: frozenset[str]
    sensor_names: frozenset[str]


@dataclass(frozen=True)
class AssetCheckState:
    """A quality rule as a Dagster asset check, with its latest execution (None: never run)."""

    name: str
    blocking: bool
    latest_status: str | None = None
    latest_run_id: str | None = None


@dataclass(frozen=True)
class SensorState:
    name: str
    running: bool


# ------------------------------------------------------------------------------ error helpers


def _python_error_text(error: Mapping[str, Any]) -> str:
    """A Python error with its stack and causes, as Python would print it (for logs, never for users)."""
    parts: list[str] = []
    for index, link in enumerate([error, *(error.get("causes") or [])]):
        if index:
            parts.append("Caused by:")
        # Dagster's message already starts with the class name ("RuntimeError: ...").
        parts.append(str(link.get("message") or link.get("className") or "Error").strip())
        parts.extend(line.rstrip("\n") for line in link.get("stack") or [])
    return "\n".join(parts)


def _result_detail(action: str, result: Mapping[str, Any]) -> str:
    typename = result.get("__typename", "?")
    lines = [f"{action}: {typename}"]
    if result.get("message"):
        lines.append(str(result["message"]).strip())
    for error in result.get("errors") or []:
        lines.append(f"{'.'.join(error.get('path') or [])}: {error.get('message', '')}".strip(": "))
    if typename == "PythonError":
        lines.append(_python_error_text(result))
    return "\n".join(lines)


def _refused(action: str, result: Mapping[str, Any] | None) -> OrchestratorError:
    result = result or {"__typename": "null"}
    plain = _PLAIN_MESSAGES.get(result.get("__typename", ""), _DEFAULT_PLAIN_MESSAGE)
    return OrchestratorError(plain, detail=_result_detail(action, result))


def _split_traceback(text: str) -> tuple[str, str]:
    """Plain part of a message and the traceback part (if Dagster put one into the text)."""
    cut = min((i for i in (text.find(m) for m in _TRACEBACK_MARKERS) if i >= 0), default=-1)
    if cut < 0:
        return text, ""
    return text[:cut].rstrip(), text[cut:].strip()


def _load_error_message(error: Mapping[str, Any]) -> str:
    """The most specific line of a load error: the root cause when Dagster wrapped the user's error."""
    causes = error.get("causes") or []
    root = causes[-1] if causes else error
    message = str(root.get("message") or "").strip()
    return message.splitlines()[0] if message else (root.get("className") or "The code location failed to load.")


def _timestamp(value: Any) -> float | None:
    return float(value) if value is not None else None


def _run_info(run: Mapping[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=run["runId"],
        status=run["status"],
        start_time=_timestamp(run.get("startTime")),
        end_time=_timestamp(run.get("endTime")),
        tags={tag["key"]: tag["value"] for tag in run.get("tags") or []},
    )


def _run_event(event: Mapping[str, Any]) -> RunEvent:
    message, trace = _split_traceback(str(event.get("message") or ""))
    details = [trace] if trace else []
    if event.get("error"):
        details.append(_python_error_text(event["error"]))
    raw_time = event.get("timestamp")
    return RunEvent(
        timestamp=float(raw_time) / 1000 if raw_time else 0.0,
        level=event.get("level") or "INFO",
        event_type=event["__typename"],
        step_key=event.get("stepKey"),
        message=message,
        detail="\n".join(details),
    )


# ------------------------------------------------------------------------------ client


class DagsterClient:
    """Calls to one Dagster webserver for one code location.

    ``url`` defaults to ``settings.DAGSTER_GRAPHQL_URL``. Connection failures and
    timeouts are retried with exponential backoff (mutations only when the request
    cannot have reached Dagster); GraphQL answers are never retried.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        location_name: str = LOCATION_NAME,
        repository_name: str = REPOSITORY_NAME,
        session: requests.Session | None = None,
    ) -> None:
        if url is None:
            from django.conf import settings

            url = settings.DAGSTER_GRAPHQL_URL
        self.url = url
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self.location_name = location_name
        self.repository_name = repository_name
        self._session = session or requests.Session()

    # -------------------------------------------------------------------- runs

    def launch_run(self, asset_keys: list[str], tags: Mapping[str, str], run_config: dict | None = None) -> str:
        """Launch the given assets (``__ASSET_JOB`` with an asset selection); return the new run id."""
        params: dict[str, Any] = {
            "selector": {
                "repositoryLocationName": self.location_name,
                "repositoryName": self.repository_name,
                "jobName": ASSET_JOB_NAME,
                "assetSelection": [{"path": key.split("/")} for key in asset_keys],
            },
            "executionMetadata": {"tags": [{"key": k, "value": str(v)} for k, v in tags.items()]},
        }
        if run_config:
            params["runConfigData"] = run_config
        result = self._execute("LaunchRun", {"executionParams": params})["launchRun"]
        if (result or {}).get("__typename") != "LaunchRunSuccess":
            raise _refused(f"launch {', '.join(asset_keys)}", result)
        return result["run"]["runId"]

    def run_statuses(self, run_ids: Iterable[str]) -> dict[str, RunInfo]:
        """run id -> RunInfo for the runs Dagster knows, in one query (unknown ids are left out)."""
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return {}
        return {info.run_id: info for info in self._runs({"runIds": ids}, limit=len(ids))}

    def runs_with_tag(self, key: str, value: str, limit: int = 50) -> list[RunInfo]:
        """The newest runs tagged ``key=value``. Dagster's run filter cannot match a key alone (value is String!)."""
        return self._runs({"tags": [{"key": key, "value": value}]}, limit=limit)

    def _runs(self, run_filter: dict[str, Any], limit: int) -> list[RunInfo]:
        result = self._execute("Runs", {"filter": run_filter, "limit": limit})["runsOrError"]
        if (result or {}).get("__typename") != "Runs":
            raise _refused("list runs", result)
        return [_run_info(run) for run in result["results"]]

    def run_events(self, run_id: str, after_cursor: str | None = None, limit: int = 1000) -> RunEvents:
        """A page of the run's event log, oldest first."""
        result = self._execute("RunEvents", {"runId": run_id, "afterCursor": after_cursor, "limit": limit})[
            "logsForRun"
        ]
        if (result or {}).get("__typename") != "EventConnection":
            raise _refused(f"events of run {run_id}", result)
        return RunEvents(
            events=tuple(_run_event(event) for event in result["events"]),
            cursor=result.get("cursor") or None,
            has_more=bool(result.get("hasMore")),
        )

    def terminate_run(self, run_id: str) -> None:
        """Ask Dagster to stop the run (a queued run is canceled at once). A finished run is left as it is."""
        result = self._execute("TerminateRun", {"runId": run_id})["terminateRun"]
        typename = (result or {}).get("__typename")
        if typename == "TerminateRunSuccess":
            return
        if typename == "TerminateRunFailure" and (result.get("run") or {}).get("status") in TERMINAL_STATUSES:
            return
        raise _refused(f"terminate run {run_id}", result)

    # -------------------------------------------------------------------- code location

    def reload_location(self) -> ReloadResult:
        """Re-run the code location's loader. A failed load is ``ok=False`` with the reason (not an exception)."""
        result = self._execute("ReloadLocation", {"location": self.location_name})["reloadRepositoryLocation"]
        typename = (result or {}).get("__typename")
        if typename != "WorkspaceLocationEntry":
            refused = _refused(f"reload {self.location_name}", result)
            return ReloadResult(ok=False, error=refused.message, detail=refused.detail)
        return self._location_result(result)

    def location_status(self) -> LocationStatus:
        """Whether the webserver has the location loaded, and the load error if it failed."""
        result = self._execute("LocationStatus", {"location": self.location_name})["workspaceLocationEntryOrError"]
        if result is None:
            return LocationStatus(loaded=False, error="")
        if result.get("__typename") != "WorkspaceLocationEntry":
            raise _refused(f"status of {self.location_name}", result)
        if result.get("loadStatus") != "LOADED":
            return LocationStatus(loaded=False, error="")
        loaded = self._location_result(result)
        return LocationStatus(loaded=loaded.ok, error=loaded.error)

    def location_definitions(self) -> LocationDefinitions:
        """The asset keys ('/'-joined) and sensor names the location currently defines."""
        selector = {"repositoryLocationName": self.location_name, "repositoryName": self.repository_name}
        result = self._execute("LocationDefinitions", {"selector": selector})["repositoryOrError"]
        if (result or {}).get("__typename") != "Repository":
            raise _refused(f"definitions of {self.location_name}", result)
        return LocationDefinitions(
            asset_names=frozenset("/".join(node["assetKey"]["path"]) for node in result["assetNodes"]),
            sensor_names=frozenset(sensor["name"] for sensor in result["sensors"]),
        )

    @staticmethod
    def _location_result(entry: Mapping[str, Any]) -> ReloadResult:
        loaded = entry.get("locationOrLoadError") or {}
        if loaded.get("__typename") == "PythonError":
            return ReloadResult(ok=False, error=_load_error_message(loaded), detail=_python_error_text(loaded))
        if loaded.get("__typename") != "RepositoryLocation":
            return ReloadResult(ok=False, error="The code location is still loading.")
        return ReloadResult(ok=True)

    # -------------------------------------------------------------------- sensors

    def _sensor_selector(self, name: str) -> dict[str, str]:
        return {
            "repositoryLocationName": self.location_name,
            "repositoryName": self.repository_name,
            "sensorName": name,
        }

    def _sensor(self, operation: str, field: str, name: str) -> dict[str, Any]:
        result = self._execute(operation, {"selector": self._sensor_selector(name)})[field]
        if (result or {}).get("__typename") != "Sensor":
            raise _refused(f"sensor {name}", result)
        return result

    def sensor_state(self, name: str) -> SensorState:
        sensor = self._sensor("Sensor", "sensorOrError", name)
        return SensorState(name=sensor["name"], running=sensor["sensorState"]["status"] == "RUNNING")

    def set_sensor_running(self, name: str, running: bool) -> SensorState:
        """Start or stop a sensor; doing what is already the case is a no-op."""
        if running:
            sensor = self._sensor("StartSensor", "startSensor", name)
            return SensorState(name=sensor["name"], running=sensor["sensorState"]["status"] == "RUNNING")
        sensor = self._sensor("Sensor", "sensorOrError", name)
        if sensor["sensorState"]["status"] != "RUNNING":
            return SensorState(name=name, running=False)
        result = self._execute("StopSensor", {"id": sensor["id"]})["stopSensor"]
        if (result or {}).get("__typename") != "StopSensorMutationResult":
            raise _refused(f"stop sensor {name}", result)
        state = result.get("instigationState") or {}
        return SensorState(name=name, running=state.get("status") == "RUNNING")

    def asset_checks(self, asset_name: str) -> list[AssetCheckState]:
        """The checks on an asset, each with the status of its latest execution (SUCCEEDED, FAILED...)."""
        key = {"path": [asset_name]}
        node = self._execute("AssetChecks", {"assetKey": key})["assetNodeOrError"] or {}
        if node.get("__typename") != "AssetNode":
            raise _refused(f"asset checks of {asset_name}", node)
        checks = node.get("assetChecksOrError") or {}
        if checks.get("__typename") != "AssetChecks":
            raise _refused(f"asset checks of {asset_name}", checks)
        states = []
        for check in checks["checks"]:
            runs = self._execute("AssetCheckExecutions", {"assetKey": key, "checkName": check["name"], "limit": 1})
            latest = (runs.get("assetCheckExecutions") or [None])[0] or {}
            states.append(
                AssetCheckState(check["name"], bool(check["blocking"]), latest.get("status"), latest.get("runId"))
            )
        return sorted(states, key=lambda state: state.name)

    # -------------------------------------------------------------------- transport

    def _execute(self, operation: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        document = DOCUMENTS[operation]
        mutation = document.lstrip().startswith("mutation")
        payload = {"query": document, "variables": dict(variables), "operationName": operation}
        delay = self.backoff_seconds
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._session.post(self.url, json=payload, timeout=self.timeout)
                break
            except requests.RequestException as exc:
                if attempt == self.attempts or not _safe_to_retry(exc, mutation):
                    raise OrchestratorUnavailable(
                        UNREACHABLE_MESSAGE, detail=f"{operation} -> POST {self.url} (attempt {attempt}): {exc!r}"
                    ) from exc
                time.sleep(delay)
                delay *= 2
        return _graphql_data(operation, response)


def _safe_to_retry(exc: requests.RequestException, mutation: bool) -> bool:
    """Queries: any connection error or timeout. Mutations: only when the request never reached the server."""
    if not isinstance(exc, requests.ConnectionError | requests.Timeout):
        return False
    if not mutation or isinstance(exc, requests.ConnectTimeout):
        return True
    import urllib3.exceptions

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _graphql_data(operation: str, response: requests.Response) -> dict[str, Any]:
    """The ``data`` of a GraphQL answer, whatever the HTTP status (Dagster sends Python errors as 500)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not ({"data", "errors"} & body.keys()):
        raise OrchestratorUnavailable(
            NOT_ANSWERING_MESSAGE,
            detail=f"{operation} -> HTTP {response.status_code} from {response.url}: {response.text[:500]}",
        )
    errors = body.get("errors") or []
    if errors or not isinstance(body.get("data"), dict):
        messages = "\n".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        raise OrchestratorError(
            _PLAIN_MESSAGES["PythonError"] if response.status_code >= 500 else _DEFAULT_PLAIN_MESSAGE,
            detail=f"{operation} -> HTTP {response.status_code}: {messages or 'no data'}",
        )
    return body["data"]
