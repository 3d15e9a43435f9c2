"""After a config change commits, ask for one (debounced) reload of the code location."""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from backend.pipelines.models import DataEnrichmentRule, DataQualityRule, PipelineConfig
from backend.runs.services import code_location_reload_request


@receiver(post_save, sender=PipelineConfig)
@receiver(post_delete, sender=PipelineConfig)
@receiver(post_save, sender=DataQualityRule)
@receiver(post_save, sender=DataEnrichmentRule)
@receiver(post_delete, sender=DataQualityRule)
@receiver(post_delete, sender=DataEnrichmentRule)
def reload_after_config_save(sender, instance, **kwargs) -> None:
    """Rules are part of the definitions too (asset checks, enrichment), so they reload it as well."""
    code_location_reload_request()


@receiver(m2m_changed, sender=PipelineConfig.depends_on.through)
def reload_after_dependency_change(sender, action, **kwargs) -> None:
    if action in {"post_add", "post_remove", "post_clear"}:
        code_location_reload_request()
