"""Entry point of the code location: assemble definitions from the active specs.

At initialization the specs are read from the metadata database and pinned into the
code location's load data as reconstruction metadata; run workers rebuild from that
pinned copy, so a config edited or deactivated between "Run" and the worker's start
cannot break the run.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType

from dagster_code.factory import build_definitions

SPECS_METADATA_KEY = "launchpad/specs"


def _specs_json(context: DefinitionsLoadContext) -> tuple[str, bool]:
    """The specs as JSON, and whether they were freshly read (True) or pinned (False)."""
    if context.load_type == DefinitionsLoadType.RECONSTRUCTION:
        pinned = context.reconstruction_metadata.get(SPECS_METADATA_KEY)
        if pinned is not None:
            return pinned, False
    from dagster_code.bridge import load_active_specs

    return load_active_specs().to_json(), True


@dg.definitions
def defs() -> dg.Definitions:
    from dagster_code.bridge import LaunchpadSpecs, recording

    context = DefinitionsLoadContext.get()
    text, fresh = _specs_json(context)
    report = build_definitions(LaunchpadSpecs.from_json(text))
    if fresh:
        # Stored with the code location's load data, which Dagster hands to every run worker.
        context.add_to_pending_reconstruction_metadata(SPECS_METADATA_KEY, text)
        recording.record_definition_errors(report.errors)
    return report.definitions
