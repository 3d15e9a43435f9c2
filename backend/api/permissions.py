"""Who may do what through the API: the same grants as the dashboard, the same model permissions as admin.

Reading needs a login; every list is narrowed to the pipelines the user is granted (staff see all),
and an object outside them is "not found", never "forbidden", so ids cannot be probed. Writing
needs the model permission of the user's role (Steward: rules; Admin: everything) and, for a
non-staff user, a grant on the pipeline the object belongs to.
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import exceptions, permissions

from backend.pipelines.models import PipelineConfig
from backend.runs.selectors import pipeline_access


class RolePermissions(permissions.DjangoModelPermissions):
    """Writes need the role's model permission (add/change/delete); reads need a login only."""


class RolePermissionsToRead(permissions.DjangoModelPermissions):
    """As :class:`RolePermissions`, and reads need the model's view permission too (every role has it)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class IsAdministrator(permissions.BasePermission):
    """Staff, or the Admin role (it alone may change grants)."""

    message = "Only administrators may see or change access grants."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and (user.is_staff or user.has_perm("pipelines.change_pipelinepermission"))
        )


def pipelines_visible(user) -> list[str]:
    return list(pipeline_access(user))


def staging_tables_visible(user) -> QuerySet:
    return PipelineConfig.objects.filter(pipeline_name__in=pipelines_visible(user)).values("staging_table")


def require_pipeline(user, pipeline_name: str) -> None:
    """A non-staff user may only write to a pipeline they are granted."""
    if user.is_staff or pipeline_name in pipeline_access(user):
        return
    raise exceptions.PermissionDenied(f"You have no access to the pipeline {pipeline_name}.")


def require_staging_table(user, table: str) -> None:
    """A non-staff user may only write rules on the staging table of an import they are granted."""
    if (
        user.is_staff
        or PipelineConfig.objects.filter(staging_table=table, pipeline_name__in=pipelines_visible(user)).exists()
    ):
        return
    raise exceptions.PermissionDenied(f"You have no access to an import that stages into {table}.")
