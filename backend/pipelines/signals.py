"""Keep dependency graphs acyclic whichever way they are edited (admin, API, ORM)."""

from __future__ import annotations

from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from backend.pipelines.models import PipelineConfig, validate_dependencies


@receiver(m2m_changed, sender=PipelineConfig.depends_on.through)
def refuse_dependency_cycles(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action != "pre_add" or not pk_set:
        return
    if reverse:
        for pk in pk_set:
            target = PipelineConfig.objects.get(pk=pk)
            validate_dependencies(target, [*target.depends_on.all(), instance])
        return
    new = list(PipelineConfig.objects.filter(pk__in=pk_set))
    validate_dependencies(instance, [*instance.depends_on.all(), *new])
