"""Specs -> Dagster definitions: staging assets, group transforms and file sensors.

Assets here are wiring: read inputs, call the engine, report counts and record the
business log. Each import is built inside its own error boundary, so one broken row
never takes the code location down.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg

from backend.pipelines.specs import ImportSpec, LaunchpadSpecs, PipelineSpec, engine_rules
from dagster_code import checks
from dagster_code.analytics import predictive_analytics_job, predictive_analytics_schedule, run_predictive_analytics
from dagster_code.engine.errors import EngineError
from dagster_code.engine.file_watch import scan_directory
from dagster_code.engine.identifiers import identifier_parts
from dagster_code.engine.ledger import FileFingerprint, fingerprint, split_already_loaded
from dagster_code.engine.loader import LoadResult, load_files
from dagster_code.engine.mapping import Preview, preview_rows
from dagster_code.engine.parsers import get_parser
from dagster_code.engine.quality import evaluate_rules
from dagster_code.engine.sources import SourceError, check_file_pattern, resolve_file_in_folder, resolve_local_files
from dagster_code.engine.transform import TransformStep, run_transform
from dagster_code.resources import WarehouseResource

SENSOR_INTERVAL_SECONDS = 5
TAG_IMPORT = "launchpad/import"
TAG_PIPELINE = "launchpad/pipeline"
TAG_DESTINATION = "launchpad/destination"
TAG_TRIGGER = "launchpad/trigger"
TAG_USER = "launchpad/user"
META_NOTHING_LOADED = "nothing_loaded"


class StagingLoadConfig(dg.Config):
    """Which files to load. Empty means every matching file waiting in the monitored folder."""

    file_paths: list[str] = []
    source_folder: str = ""  # set by load_file: the files sit in this folder instead of the monitored one
    force: bool = False  # load files the ledger has already seen


@dataclass
class BuildReport:
    definitions: dg.Definitions
    errors: dict[str, str] = field(default_factory=dict)


def root_run_id(context: dg.AssetExecutionContext) -> str:
    """Staging rows carry the root run id, so a re-execution finds the rows of its first attempt."""
    return context.run.root_run_id or context.run.tags.get("dagster/root_run_id") or context.run.run_id


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
    if spec.monitored_directory:
        check_file_pattern(spec.file_pattern)
    get_parser(spec.file_type, spec.parser_function)


def _source(context: dg.AssetExecutionContext) -> str:
    """Who or what brought the files: 'sensor', 'dashboard:alice', 'cli:bob'..."""
    tags = context.run.tags
    trigger = tags.get(TAG_TRIGGER) or ("sensor" if tags.get("dagster/sensor_name") else "manual")
    return f"{trigger}:{tags[TAG_USER]}" if tags.get(TAG_USER) else trigger


def _resolve(spec: ImportSpec, config: StagingLoadConfig) -> list[Path]:
    if config.source_folder:
        return [resolve_file_in_folder(config.source_folder, raw) for raw in config.file_paths]
    return resolve_local_files(spec.monitored_directory, spec.file_pattern, config.file_paths)


def _ledger_entries(spec, run_id, source, force, files: list[FileFingerprint], status, rows=None, message=""):
    recording = _recording()
    return [
        recording.FileRecord(
            import_name=spec.import_name,
            pipeline_name=spec.pipeline_name,
            path=f.path,
            file_name=f.name,
            size_bytes=f.size,
            sha256=f.sha256,
            status=status,
            dagster_run_id=run_id,
            source=source,
            rows=(rows or {}).get(f.path),
            message=message,
            forced=force,
        )
        for f in files
    ]


def _materialize_metadata(result: LoadResult, run_id: str, skipped: int, preview: Preview) -> dict:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in preview.columns])
    names = [name for name, _ in preview.columns]
    return {
        "dagster/row_count": dg.MetadataValue.int(result.rows_loaded),
        "rows_loaded": dg.MetadataValue.int(result.rows_loaded),
        "files": dg.MetadataValue.json({f.path: f.rows for f in result.files}),
        "files_skipped": dg.MetadataValue.int(skipped),
        "staging_table": result.table,
        "launchpad_run_id": run_id,
        "replaced_rows_from_earlier_attempt": dg.MetadataValue.int(result.replaced_rows),
        "dagster/column_schema": schema,
        "columns": dg.MetadataValue.json(names),
        "preview": dg.MetadataValue.table(
            records=[dg.TableRecord(dict(zip(names, row, strict=True))) for row in preview.rows], schema=schema
        ),
    }


def build_staging_asset(spec: ImportSpec, active: Mapping[str, str] | None = None) -> dg.AssetsDefinition:
    """The staging asset of one import; ``active`` maps the imports it may depend on to their assets."""
    active = active or {}
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
        deps=[dg.AssetKey(active[dep]) for dep in spec.depends_on if dep in active],
        check_specs=checks.check_specs(spec),
    )
    def _staging(context: dg.AssetExecutionContext, config: StagingLoadConfig, warehouse: WarehouseResource):
        run_id = root_run_id(context)
        started = _now()
        source = _source(context)
        files: list[str] = list(config.file_paths)
        phases: dict[str, float] = {}
        recording = _recording()

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
                phase_durations=phases,
                **outcome,
            )

        def progress(file_name: str, rows: int) -> None:
            context.log.info(f"{file_name}: {rows:,} rows copied into {spec.staging_table} so far")

        def ledger(prints, status, rows=None, message="") -> None:
            if prints:
                recording.record_files(
                    _ledger_entries(spec, run_id, source, config.force, list(prints), status, rows, message)
                )

        to_load: tuple[FileFingerprint, ...] = ()
        enrichment, rules = engine_rules(spec)
        enriched, results, halted = [], [], None
        try:
            paths = _resolve(spec, config)
            files = [str(p) for p in paths]
            try:
                prints = [fingerprint(p) for p in paths]
            except OSError as exc:
                raise SourceError(
                    f"{Path(exc.filename or '').name or 'A file'} could not be read ({exc.strerror}).", detail=str(exc)
                ) from exc
            known = recording.prior_loads(spec.import_name, [f.sha256 for f in prints], exclude_run_id=run_id)
            to_load, skipped = split_already_loaded(prints, known, force=config.force)
            for item in skipped:
                context.log.warning(item.message)
                ledger([item.file], "SKIPPED", message=item.message)
            if not to_load:
                record(status="SUCCESS", source_files=tuple(files))
                yield dg.MaterializeResult(
                    metadata={
                        META_NOTHING_LOADED: True,
                        "rows_loaded": dg.MetadataValue.int(0),
                        "files_skipped": dg.MetadataValue.int(len(skipped)),
                        "staging_table": spec.staging_table,
                    },
                    check_results=checks.not_run_results(spec, "every file was already loaded, no new rows."),
                )
                return
            context.log.info(
                f"Loading {len(to_load)} file(s) into {spec.staging_table}: {', '.join(f.name for f in to_load)}"
            )
            clock = time.monotonic()
            with warehouse.connect() as conn:
                try:
                    with conn.transaction():  # load, enrichment and quality: all kept, or none
                        result = load_files(
                            conn,
                            table=spec.staging_table,
                            files=[Path(f.path) for f in to_load],
                            parser=parser,
                            options=spec.scraper_config,
                            column_mapping=spec.column_mapping,
                            run_id=run_id,
                            progress=progress,
                            enrichment=enrichment,
                        )
                        phases["parse"] = result.parse_seconds
                        phases["load"] = max(time.monotonic() - clock - result.parse_seconds, 0.0)
                        clock = time.monotonic()
                        enriched = result.enrichment
                        results = evaluate_rules(
                            conn,
                            table=spec.staging_table,
                            run_id=run_id,
                            rules=rules,
                            key_columns=spec.deduplication_key,
                            destination=spec.destination_table,
                        )
                        if spec.enrichment_rules or spec.quality_rules:
                            phases["quality"] = time.monotonic() - clock
                        failed = [r for r in results if not r.passed and r.severity == "FAIL"]
                        if failed:
                            raise checks.QualityHalt(failed)
                        preview = preview_rows(conn, spec.staging_table, run_id)
                except checks.QualityHalt as halt:
                    halted = halt
        except EngineError as exc:
            record(
                status="FAILURE",
                source_files=tuple(files),
                error_message=exc.message,
                resolution_hint=exc.hint,
            )
            ledger(to_load, "FAILED", message=exc.message)
            raise _fail(context, exc) from exc
        checks.log_outcomes(context, enriched, results)
        if results:
            recording.record_quality(checks.quality_records(spec, run_id, results))
        if halted is not None:
            yield from checks.check_results(spec, results)
            message = str(halted)
            record(
                status="FAILURE",
                source_files=tuple(files),
                rows_read=result.rows_loaded,
                rows_rejected=result.rows_loaded,
                error_message=message,
                resolution_hint=checks.QUALITY_HINT,
            )
            ledger(to_load, "FAILED", message=message)
            raise dg.Failure(description=message, metadata={"hint": checks.QUALITY_HINT}, allow_retries=False)
        for loaded in result.files:
            context.log.info(f"{Path(loaded.path).name}: {loaded.rows:,} rows loaded into {spec.staging_table}")
        ledger(to_load, "LOADED", rows={f.path: f.rows for f in result.files})
        record(
            status="SUCCESS",
            source_files=tuple(f.path for f in result.files),
            rows_read=result.rows_loaded,
            rows_loaded=result.rows_loaded,
        )
        yield dg.MaterializeResult(
            metadata=_materialize_metadata(result, run_id, len(skipped), preview),
            check_results=checks.check_results(spec, results),
        )

    return _staging


def _run_family(context: dg.AssetExecutionContext) -> list[str]:
    """This run and the runs it re-executes, back to the root (they share the staging rows)."""
    family = [context.run.run_id]
    parent = context.run.parent_run_id
    while parent and parent not in family:
        family.append(parent)
        record = context.instance.get_run_by_id(parent)
        parent = record.parent_run_id if record else None
    return family


class _Staged(NamedTuple):
    run_id: str  # the run id the staging rows carry
    rows: int | None  # how many the load reported (None: not recorded)


def _rows_loaded(metadata: Mapping[str, Any]) -> int | None:
    value = metadata.get("rows_loaded")
    return value.value if value is not None else None


def _staged_loads(context: dg.AssetExecutionContext, imports: tuple[ImportSpec, ...]) -> dict[str, _Staged]:
    """import_name -> the staging rows this transform should move: their run id and the load's row count.

    Imports loaded by this run (or the run it re-executes) use its root run id; an import
    whose files were all skipped as already loaded has nothing to move. When the transform
    runs alone, each import's latest successful load is used instead.
    """
    staged: dict[str, Mapping[str, Any]] = {}  # staging asset -> the metadata of its load in this run family
    for run_id in _run_family(context):
        for event in context.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            if not (event.dagster_event and event.dagster_event.asset_key):
                continue
            metadata = event.dagster_event.step_materialization_data.materialization.metadata
            staged.setdefault(event.dagster_event.asset_key.path[-1], metadata)
    if any(spec.staging_asset_name in staged for spec in imports):
        return {
            spec.import_name: _Staged(root_run_id(context), _rows_loaded(staged[spec.staging_asset_name]))
            for spec in imports
            if spec.staging_asset_name in staged and META_NOTHING_LOADED not in staged[spec.staging_asset_name]
        }
    loads: dict[str, _Staged] = {}
    for spec in imports:
        event = context.instance.get_latest_materialization_event(dg.AssetKey(spec.staging_asset_name))
        materialization = event.asset_materialization if event else None
        value = materialization.metadata.get("launchpad_run_id") if materialization else None
        if value is not None:
            loads[spec.import_name] = _Staged(value.value, _rows_loaded(materialization.metadata))
    return loads


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
        loads = _staged_loads(context, imports)
        run_ids = {name: load.run_id for name, load in loads.items()}
        if not run_ids:
            context.log.info("No newly loaded staging data to transform.")
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
                    staged_rows=loads[spec.import_name].rows,
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
                    phase_durations={"transform": (_now() - started).total_seconds()},
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
                _recording().settle_files(run_id, [step.import_name for step in steps], ok=False, message=exc.message)
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
            _recording().settle_files(run_id, [step.import_name for step in steps], ok=True)
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
            min_age_seconds=spec.min_file_age_seconds,
        )
        for path in result.refused:
            context.log.warning(f"{path} is a link to a file outside {spec.monitored_directory}; it is never loaded.")
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
    active = {spec.import_name: spec.staging_asset_name for spec in specs.imports}
    for pipeline in specs.pipelines:
        built: list[ImportSpec] = []
        for spec in pipeline.imports:
            try:
                _check_spec(spec)
                staging = build_staging_asset(spec, active)
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
        assets=[*assets, run_predictive_analytics],
        jobs=[predictive_analytics_job],
        schedules=[predictive_analytics_schedule],
        sensors=sensors,
        resources={"warehouse": warehouse or WarehouseResource(url=dg.EnvVar("WAREHOUSE_URL"))},
    )
    return BuildReport(definitions=definitions, errors=errors)
