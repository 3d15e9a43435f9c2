"""Who sees and runs what: deny by default, grants to users or groups, staff see all."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.http import Http404

from backend.runs import selectors
from backend.runs.models import ImportRun
from tests.factories import PipelineConfigFactory, PipelinePermissionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipelines():
    PipelineConfigFactory(pipeline_name="Sales", import_name="orders")
    PipelineConfigFactory(pipeline_name="Sales", import_name="refunds")
    PipelineConfigFactory(pipeline_name="Stock", import_name="stock_levels")
    PipelineConfigFactory(pipeline_name="Stock", import_name="retired", is_active=False)


def test_a_user_without_grants_sees_nothing(pipelines):
    assert selectors.pipeline_access(UserFactory()) == {}
    assert selectors.import_list_visible(UserFactory()) == []
    assert selectors.pipeline_access(AnonymousUser()) == {}


def test_group_grants_apply_and_view_only_means_no_run(pipelines):
    viewer = UserFactory()
    viewer.groups.add(Group.objects.get(name="Viewer"))
    PipelinePermissionFactory(group=Group.objects.get(name="Viewer"), pipeline_name="Sales", can_run=False)
    groups = selectors.import_list_visible(viewer)
    assert [(g.pipeline_name, g.can_run, [r.import_name for r in g.imports]) for g in groups] == [
        ("Sales", False, ["orders", "refunds"])
    ]


def test_a_user_grant_can_add_run_rights_to_a_view_only_group_grant(pipelines):
    user = UserFactory()
    user.groups.add(Group.objects.get(name="Viewer"))
    PipelinePermissionFactory(group=Group.objects.get(name="Viewer"), pipeline_name="Sales", can_run=False)
    PipelinePermissionFactory(user=user, pipeline_name="Sales", can_run=True)
    assert selectors.pipeline_access(user)["Sales"].can_run is True


def test_staff_see_and_run_everything_active(pipelines):
    groups = selectors.import_list_visible(UserFactory(is_staff=True))
    assert [(g.pipeline_name, g.can_run, len(g.imports)) for g in groups] == [("Sales", True, 2), ("Stock", True, 1)]


def test_another_pipelines_run_is_a_404_not_a_403(pipelines):
    operator = UserFactory()
    PipelinePermissionFactory(user=operator, pipeline_name="Sales")
    stock_run = ImportRun.objects.create(pipeline_name="Stock", import_names=["stock_levels"])
    sales_run = ImportRun.objects.create(pipeline_name="Sales", import_names=["orders"])
    assert selectors.import_run_get_visible(operator, sales_run.pk) == sales_run
    with pytest.raises(Http404):
        selectors.import_run_get_visible(operator, stock_run.pk)
    with pytest.raises(Http404):
        selectors.import_run_get_visible(operator, 999999)
    assert selectors.import_run_statuses_visible(operator, [stock_run.pk, sales_run.pk]) == [sales_run]
    assert list(selectors.import_run_list_visible(operator)) == [sales_run]


def test_last_run_of_each_import_is_shown(pipelines):
    user = UserFactory(is_staff=True)
    ImportRun.objects.create(pipeline_name="Sales", import_names=["orders"], status="FAILURE")
    latest = ImportRun.objects.create(pipeline_name="Sales", import_names=["orders"], status="SUCCESS")
    rows = {r.import_name: r for g in selectors.import_list_visible(user) for r in g.imports}
    assert (rows["orders"].last_status, rows["orders"].last_run_id) == ("SUCCESS", latest.pk)
    assert rows["refunds"].last_status == ""
