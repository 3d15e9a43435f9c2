"""The daily analytics batch: forecasts and anomaly scans for every active AnalyticsConfig, alerts on new anomalies.

Each config is analysed inside its own error boundary, so one broken series (a dropped table, a renamed
column) is reported and the others still run. Alerts are posted after the predictions are recorded, with a
bounded timeout and retries, and a webhook that is down never fails the run.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation at definition time.
import traceback

import dagster as dg

from analytics_hub.ml.alerts import post_alert
from analytics_hub.ml.batch import BatchResult, SeriesJob, analyse
from analytics_hub.ml.errors import AnalyticsError
from dagster_code.resources import WarehouseResource

ANALYTICS_ASSET = "run_predictive_analytics"
ANALYTICS_JOB = "predictive_analytics_job"
ANALYTICS_SCHEDULE = "predictive_analytics_schedule"
DAILY_AT = "30 5 * * *"  # 05:30, after the night's loads


def _job(spec) -> SeriesJob:
    return SeriesJob(spec.target_table, spec.date_column, spec.value_column, spec.model_type, spec.horizon)


def _records(result: BatchResult):
    from dagster_code.bridge import recording

    return [
        recording.PredictionRecord(
            period=p.period.date(),
            predicted_value=p.predicted_value,
            lower_bound=p.lower_bound,
            upper_bound=p.upper_bound,
            actual_value=p.actual_value,
            is_anomaly=p.is_anomaly,
            anomaly_score=p.anomaly_score,
        )
        for p in result.periods
    ]


def _alert(context: dg.AssetExecutionContext, spec, result: BatchResult, new_periods: list) -> None:
    flagged = {p.period.date(): p for p in result.anomalies}
    payload = {
        "source": "launchpad",
        "event": "new_anomalies",
        "table": spec.target_table,
        "date_column": spec.date_column,
        "value_column": spec.value_column,
        "dagster_run_id": context.run.run_id,
        "anomalies": [
            {"period": day.isoformat(), "value": flagged[day].actual_value, "score": flagged[day].anomaly_score}
            for day in new_periods
        ],
    }
    outcome = post_alert(spec.alert_webhook_url, payload)
    if outcome.delivered:
        context.log.info(f"{spec.label}: alert posted ({len(new_periods)} new anomalies).")
    else:
        context.log.warning(f"{spec.label}: alert not delivered after {outcome.attempts} attempts: {outcome.error}.")


@dg.asset(
    name=ANALYTICS_ASSET,
    group_name="analytics",
    description="Forecasts and anomaly scans for every active analytics setting; alerts on new anomalies.",
)
def run_predictive_analytics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from dagster_code.bridge import load_analytics_specs, recording

    specs = load_analytics_specs()
    context.log.info(f"{len(specs)} active analytics setting(s).")
    summary, failed = [], []
    for spec in specs:
        try:
            with warehouse.connect() as conn:
                result = analyse(conn, _job(spec))
            new_periods = recording.record_predictions(spec.config_id, context.run.run_id, _records(result))
        except Exception as exc:  # noqa: BLE001 - one config's boundary: report it, go on with the others
            message = exc.message if isinstance(exc, AnalyticsError) else str(exc).splitlines()[0] if str(exc) else ""
            context.log.error(f"{spec.label}: not analysed: {message or type(exc).__name__}\n{traceback.format_exc()}")
            failed.append(spec.label)
            continue
        context.log.info(
            f"{spec.label}: {result.points_read:,} periods read, {len(result.periods):,} recorded "
            f"({result.method}); {len(result.anomalies)} anomalous, {len(new_periods)} new."
        )
        if new_periods and spec.alert_webhook_url:
            _alert(context, spec, result, new_periods)
        summary.append({"setting": spec.label, "periods": len(result.periods), "new_anomalies": len(new_periods)})
    if failed and len(failed) == len(specs):
        raise dg.Failure(f"No analytics setting could be analysed: {', '.join(failed)}.")
    return dg.MaterializeResult(
        metadata={
            "settings": len(specs),
            "failed": dg.MetadataValue.json(failed),
            "results": dg.MetadataValue.json(summary),
        }
    )


predictive_analytics_job = dg.define_asset_job(ANALYTICS_JOB, selection=[ANALYTICS_ASSET])
predictive_analytics_schedule = dg.ScheduleDefinition(
    name=ANALYTICS_SCHEDULE,
    job=predictive_analytics_job,
    cron_schedule=DAILY_AT,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
