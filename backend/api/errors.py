"""One JSON error shape for every API failure.

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"name": ["..."]}}}

``fields`` appears for validation errors only. Messages are plain language; no stack trace,
query or secret ever reaches a response.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

_MESSAGES = {
    status.HTTP_400_BAD_REQUEST: "The request is not valid; see the fields.",
    status.HTTP_401_UNAUTHORIZED: "Log in or send an API token (Authorization: Token <key>).",
    status.HTTP_403_FORBIDDEN: "You do not have permission to do this.",
    status.HTTP_404_NOT_FOUND: "Not found.",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service Launchpad needs is not answering; try again shortly."
    default_code = "unavailable"


def django_validation_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {("non_field_errors" if k == "__all__" else k): [str(m) for m in v] for k, v in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(django_validation_fields(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:  # a bug or an outage: the details go to the log, the client gets the shape
        view = context.get("view")
        log.exception("API error in %s", type(view).__name__ if view else "a view", exc_info=exc)
        return Response(
            {
                "error": {
                    "status": 500,
                    "code": "server_error",
                    "message": "Something went wrong on the server; the details were logged. Try again later.",
                }
            },
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    response.data = {"error": _body(exc, response.status_code)}
    return response


def not_found(request, *args, **kwargs):
    """Any other path under /api/: the same error shape as every endpoint (and a hint for a missing slash)."""
    from django.http import JsonResponse
    from django.urls import Resolver404, resolve

    message = f"No API endpoint at {request.path}."
    if not request.path.endswith("/"):
        try:
            if resolve(request.path + "/").func is not not_found:
                message += f" Did you mean {request.path}/ (with the slash)?"
        except Resolver404:
            pass
    return JsonResponse({"error": {"status": 404, "code": "not_found", "message": message}}, status=404)


def _body(exc: exceptions.APIException, code: int) -> dict[str, Any]:
    body: dict[str, Any] = {"status": code, "code": _code(exc)}
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        body["message"] = _first_message(fields) or _MESSAGES[status.HTTP_400_BAD_REQUEST]
        body["fields"] = _plain(fields)
    else:
        body["message"] = str(detail) if detail else _MESSAGES.get(code, "The request failed.")
    return body


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def _first_message(fields: Any) -> str:
    if isinstance(fields, dict):
        for name, value in fields.items():
            message = _first_message(value)
            if message:
                return message if name == "non_field_errors" else f"{name}: {message}"
        return ""
    if isinstance(fields, list):
        return next((m for m in (_first_message(v) for v in fields) if m), "")
    return str(fields)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value)
