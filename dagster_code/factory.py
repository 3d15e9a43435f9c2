"""Specs -> Dagster definitions: staging assets, group transforms and file sensors.

Assets here are wiring: read inputs, call the engine, report counts and record the
business log. Each import is built inside its own error boundary, so one broken row
never takes the code location down.
"""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg

from backend.pipelines.specs import ImportSpec, LaunchpadSpecs, PipelineSpec
from dagster_code.engine.errors import EngineError
from dagster_code.engine.file_watch import scan_directory
from dagster_code.engine.identifiers import identifier_parts
from dagster_code.engine.loader import load_files
from dagster_code.engine.parsers import get_parser
from dagster_code.engine.sources import resolve_local_files
from dagster_code.engine.transform import TransformStep, run_transform
from dagster_code.resources import WarehouseResource

SENSOR_INTERVAL_SECONDS = 5
TAG_IMPORT = "launchpad/import"
TAG_PIPELINE = "launchpad/pipeline"
TAG_DESTINATION = "launchpad/destination"
TAG_TRIGGER = "launchpad/trigger"


class StagingLoadConfig(dg.Config):
    """Which files to load. Empty means every matching file waiting in the monitored folder."""

    file_paths: list[str] = []


@dataclass
class BuildReport:
    definitions: dg.Definitions
    errors: dict[str, str] = field(default_factory=dict)


def root_run_id(context: dg.AssetExecutionContext) -> str:
    """Staging rows carry the root run id, so a re-execution finds the rows of its first attempt."""
    return context.run.tags.get("dagster/root_run_id") or context.run.run_id


def _now() -> datetime:
    return datetime.now(UTC)


def _recording():
    from dagster_code.bridge import recording

    return recording


def _record(**kwargs) -> None:
    recording = _recording()
    recording.record_step(recording.StepRecord(**kwargs))


def _fail(context, exc: EngineError) -> dg.Failure:
    context.log.error(f"{exc.message}\n{exc.detail}".strip())
    return dg.Failure(description=exc.message, metadata={"hint": exc.hint} if exc.hint else None, allow_retries=False)


def _check_spec(spec: ImportSpec) -> None:
    """Raise on anything that would only fail at run time (so admins see it at load time)."""
    for table in (
        spec.staging_table,
        spec.destination_table,
        *([spec.transform_procedure] if spec.transform_procedure else []),
    ):
        identifier_parts(table)
    get_parser(spec.file_type, spec.parser_function)


def build_staging_asset(spec: ImportSpec) -> dg.AssetsDefinition:
    parser = get_parser(spec.file_type, spec.parser_function)

    @dg.asset(
        name=spec.staging_asset_name,
        group_name=spec.pipeline_name,
        description=spec.description or f"Loads {spec.file_pattern} files into {spec.staging_table}.",
        kinds={"postgres"},
        metadata={
            "staging_table": spec.staging_table,
            "file_pattern": spec.file_pattern,
            "config_version": spec.version,
        },
        tags={"launchpad/import": spec.import_name},
    )
    def _staging(context: dg.AssetExecutionContext, config: StagingLoadConfig, warehouse: WarehouseResource):
        run_id = root_run_id(context)
        started = _now()
        files: list[str] = list(config.file_paths)

        def record(**outcome) -> None:
            _record(
                dagster_run_id=run_id,
                pipeline_name=spec.pipeline_name,
                import_name=spec.import_name,
                step="extract_load",
                started_at=started,
                finished_at=_now(),
                target_table=spec.staging_table,
                config_version=spec.version,
                **outcome,
            )

        def progress(file_name: str, rows: int) -> None:
            context.log.info(f"{file_name}: {rows:,} rows copied into {spec.staging_table} so far")

        try:
            paths = resolve_local_files(spec.monitored_directory, spec.file_pattern, config.file_paths)
            files = [str(p) for p in paths]
            context.log.info(
                f"Loading {len(paths)} file(s) into {spec.staging_table}: {', '.join(p.name for p in paths)}"
            )
            with warehouse.connect() as conn:
                result = load_files(
                    conn,
                    table=spec.staging_table,
                    files=paths,
                    parser=parser,
                    options=spec.scraper_config,
                    column_mapping=spec.column_mapping,
                    run_id=run_id,
                    progress=progress,
                )
        except EngineError as exc:
            record(
                status="FAILURE",
                source_files=tuple(files),
                error_message=exc.message,
                resolution_hint=exc.hint,
            )
            raise _fail(context, exc) from exc
        for loaded in result.files:
            context.log.info(f"{loaded.path}: {loaded.rows:,} rows loaded")
        record(
            status="SUCCESS",
            source_files=tuple(f.path for f in result.files),
            rows_read=result.rows_loaded,
            rows_loaded=result.rows_loaded,
        )
        return dg.MaterializeResult(
            metadata={
                "rows_loaded": dg.MetadataValue.int(result.rows_loaded),
                "files": dg.MetadataValue.json({f.path: f.rows for f in result.files}),
                "staging_table": spec.staging_table,
                "launchpad_run_id": run_id,
                "replaced_rows_from_earlier_attempt": dg.MetadataValue.int(result.replaced_rows),
            }
        )

    return _staging


def _staging_run_ids(context: dg.AssetExecutionContext, imports: tuple[ImportSpec, ...]) -> dict[str, str]:
    """import_name -> the run id of the staging rows this transform should move.

    Imports loaded in this run use this run's id; when the transform runs alone (or is
    re-executed), each import's latest successful load is used instead.
    """
    this_run = {
        event.dagster_event.asset_key.path[-1]
        for event in context.instance.all_logs(context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        if event.dagster_event and event.dagster_event.asset_key
    }
    run_ids: dict[str, str] = {}
    loaded_here = [spec for spec in imports if spec.staging_asset_name in this_run]
    if loaded_here:
        return {spec.import_name: root_run_id(context) for spec in loaded_here}
    for spec in imports:
        event = context.instance.get_latest_materialization_event(dg.AssetKey(spec.staging_asset_name))
        materialization = event.asset_materialization if event else None
        value = materialization.metadata.get("launchpad_run_id") if materialization else None
        if value is not None:
            run_ids[spec.import_name] = value.value
    return run_ids


def build_transform_asset(pipeline: PipelineSpec, imports: tuple[ImportSpec, ...]) -> dg.AssetsDefinition:
    by_name = {spec.import_name: spec for spec in imports}

    @dg.asset(
        name=pipeline.transform_asset_name,
        group_name=pipeline.pipeline_name,
        description=f"Moves the loaded staging rows of {pipeline.pipeline_name} into the destination tables.",
        deps=[dg.AssetKey(spec.staging_asset_name) for spec in imports],
        kinds={"postgres"},
    )
    def _transform(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        run_ids = _staging_run_ids(context, imports)
        if not run_ids:
            context.log.info("No loaded staging data to transform.")
            return dg.MaterializeResult(metadata={"imports": dg.MetadataValue.json([])})
        results = []
        for run_id in sorted(set(run_ids.values())):
            steps = [
                TransformStep(
                    import_name=spec.import_name,
                    staging_table=spec.staging_table,
                    destination_table=spec.destination_table,
                    load_method=spec.load_method,
                    procedure=spec.transform_procedure,
                    strategy=spec.transform_strategy,
                    dedup_key=spec.deduplication_key,
                )
                for spec in imports
                if run_ids.get(spec.import_name) == run_id
            ]
            started = _now()

            def record(import_name: str, table: str, run_id: str = run_id, started=started, **outcome) -> None:
                _record(
                    dagster_run_id=run_id,
                    pipeline_name=pipeline.pipeline_name,
                    import_name=import_name,
                    step="transform",
                    started_at=started,
                    finished_at=_now(),
                    target_table=table,
                    config_version=by_name[import_name].version,
                    **outcome,
                )

            try:
                with warehouse.connect() as conn:
                    step_results = run_transform(conn, steps, run_id)
            except EngineError as exc:
                for step in steps:
                    record(
                        step.import_name,
                        step.destination_table,
                        status="FAILURE",
                        error_message=exc.message,
                        resolution_hint=exc.hint,
                    )
                raise _fail(context, exc) from exc
            finished = _now()
            for res in step_results:
                context.log.info(
                    f"{res.import_name}: {res.staging_rows:,} staging rows -> {res.destination_table} "
                    f"({res.destination_rows:,} rows now{', truncated first' if res.truncated else ''}"
                    f"{f', {res.duplicates_removed:,} already there skipped' if res.duplicates_removed else ''})"
                )
                record(
                    res.import_name,
                    res.destination_table,
                    status="SUCCESS",
                    rows_read=res.staging_rows,
                    rows_loaded=res.staging_rows - res.duplicates_removed,
                    rows_rejected=res.duplicates_removed,
                )
            switched = _recording().record_import_success([r.import_name for r in step_results], finished)
            for name in switched:
                context.log.info(f"First load done: switched to {name} (this import is now inactive).")
            results.extend(step_results)
        return dg.MaterializeResult(
            metadata={
                "rows_transformed": dg.MetadataValue.int(sum(r.staging_rows for r in results)),
                "imports": dg.MetadataValue.json(
                    {
                        r.import_name: {
                            "rows": r.staging_rows,
                            "destination": r.destination_table,
                            "destination_rows": r.destination_rows,
                        }
                        for r in results
                    }
                ),
            }
        )

    return _transform


def build_file_sensor(spec: ImportSpec, pipeline: PipelineSpec) -> dg.SensorDefinition:
    status = dg.DefaultSensorStatus.RUNNING if spec.sensor_enabled else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(
        name=spec.sensor_name,
        description=f"Starts a run for each new or changed {spec.file_pattern} file in {spec.monitored_directory}.",
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=status,
        asset_selection=[dg.AssetKey(spec.staging_asset_name), dg.AssetKey(pipeline.transform_asset_name)],
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        result = scan_directory(
            spec.monitored_directory,
            spec.file_pattern,
            context.cursor,
            time.time(),
            batch_window_seconds=spec.batch_window_seconds,
        )
        requests = [
            dg.RunRequest(
                run_key=batch.run_key,
                run_config=dg.RunConfig(ops={spec.staging_asset_name: StagingLoadConfig(file_paths=list(batch.paths))}),
                tags={
                    TAG_IMPORT: spec.import_name,
                    TAG_PIPELINE: spec.pipeline_name,
                    TAG_DESTINATION: spec.destination_table,
                    TAG_TRIGGER: "sensor",
                },
            )
            for batch in result.batches
        ]
        skip = None
        if not requests:
            skip = result.skip_reason or (
                f"{result.waiting} file(s) still settling." if result.waiting else "No new or changed files."
            )
        return dg.SensorResult(run_requests=requests, cursor=result.cursor, skip_reason=skip)

    return _sensor


def build_definitions(specs: LaunchpadSpecs, warehouse: WarehouseResource | None = None) -> BuildReport:
    """All definitions for ``specs``; imports that cannot be built are skipped and reported."""
    assets: list[dg.AssetsDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    errors: dict[str, str] = {}
    for pipeline in specs.pipelines:
        built: list[ImportSpec] = []
        for spec in pipeline.imports:
            try:
                _check_spec(spec)
                staging = build_staging_asset(spec)
                sensor = build_file_sensor(spec, pipeline) if spec.monitored_directory else None
            except Exception as exc:  # noqa: BLE001 - the error boundary: report, skip, keep loading others
                errors[spec.import_name] = str(exc) or type(exc).__name__
                continue
            assets.append(staging)
            if sensor is not None:
                sensors.append(sensor)
            built.append(spec)
        if built:
            assets.append(build_transform_asset(pipeline, tuple(built)))
    definitions = dg.Definitions(
        assets=assets,
        sensors=sensors,
        resources={"warehouse": warehouse or WarehouseResource(url=dg.EnvVar("WAREHOUSE_URL"))},
    )
    return BuildReport(definitions=definitions, errors=errors)
