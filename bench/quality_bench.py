"""Benchmark: quality rules and the whole append import against ``psql \\copy`` of the same file.

Generates a deterministic sales CSV of ``--rows`` rows with planted violations (NULL keys, repeated
ids and order references, unknown regions, negative amounts, dates out of range, malformed e-mails,
amounts too small for their quantity) and knows exactly how many rows break each rule. Then, in a
throw-away schema:

(a) ``psql \\copy`` of the file into a bare typed table (``dagster_run_id`` filled by a DEFAULT);
(b) 10 rules of mixed types (2 NOT_NULL, 2 UNIQUE, IS_IN_SET, 2 RANGE, REGEX, ROW_COUNT_MIN,
    CUSTOM_SQL) evaluated by ``dagster_code.engine.quality.evaluate_rules`` over those rows; each
    rule's failing count must equal the planted truth;
(c) the whole path of one ``append`` import with a deduplication key: ``load_files`` (csv parser) with
    its enrichment rule (the product category of the ``--missing-category`` share of rows, default 30%,
    from a 5,000-row lookup table; a sixth of the SKUs are not in it) and the 10 rules in one
    transaction, as the staging asset runs them, then ``run_transform`` (insert strategy; rows whose
    sale_id the destination already has are left out). Fills, rule counts, rows left out and the
    destination's final row count are checked against the truth.

Each side runs ``--repeat`` times (after TRUNCATE + CHECKPOINT; the tables are left out of
autovacuum); the best time counts. Targets at 1M rows: ``rules_vs_copy_time`` = rules / copy <= 1.0
and ``pipeline_ratio_vs_psql_copy`` = (rows/s of the whole path) / (rows/s of \\copy) >= 0.33. The
last line printed is one JSON object.

    .venv/bin/python bench/quality_bench.py [--rows 1000000] [--repeat 5] [--missing-category 0.3]

Connection: ``WAREHOUSE_URL``, else the embedded PostgreSQL (``backend.embedded.ensure_services``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load_bench import psql_binary, warehouse_url  # noqa: E402

COLUMNS = (
    "sale_id", "order_ref", "sale_date", "region", "product_sku", "product_category", "customer_email", "quantity",
    "amount",
)  # fmt: skip
TYPES = (
    "sale_id integer, order_ref text, sale_date date, region text, product_sku text, product_category text, "
    "customer_email text, quantity integer, amount numeric(12, 2)"
)
REGIONS = ("North", "South", "East", "West", "Central", "Île-de-France", "São Paulo", "Zürich", "東京都", "Nord-Est")
KNOWN_SKUS = 5000  # SKU-00000 .. SKU-04999 are in the lookup table; the file also uses SKU-05000 .. SKU-05999
ALL_SKUS = 6000
FIRST_DAY = np.datetime64("2022-01-01")
LAST_DAY = np.datetime64("2024-12-31")
SPAN_DAYS = int((LAST_DAY - FIRST_DAY).astype(int))
LATE_DAY = int((np.datetime64("2031-01-01") - FIRST_DAY).astype(int))
EMAIL_PATTERN = r"^[a-z0-9._]+@[a-z0-9.-]+\.[a-z]{2,}$"
CUSTOM = "quantity > 0 AND amount >= quantity * 0.5"
TARGETS = {"rules_vs_copy_time": 1.0, "pipeline_ratio_vs_psql_copy": 0.33}
RATES = {  # share of rows given each planted fault
    "sku_null": 0.005, "quantity_null": 0.005, "id_repeat": 0.001, "ref_repeat": 0.001, "region_bad": 0.003,
    "region_null": 0.005, "amount_negative": 0.002, "amount_small": 0.002, "date_late": 0.002, "email_bad": 0.003,
    "email_null": 0.005, "known_in_destination": 0.01,
}  # fmt: skip
# the bench's tables are left out of autovacuum: a VACUUM or ANALYZE of a million rows started by the server
# in the middle of a timed side would take one of the two cores from it, at random
QUIET = " WITH (autovacuum_enabled = false)"
MISSING_CATEGORY = 0.3  # share of rows whose file leaves product_category empty, for enrichment to fill


@dataclass
class Truth:
    """What the generator planted: rows failing each rule, and the expected enrichment and dedup counts."""

    rows: int
    failing: dict[str, int] = field(default_factory=dict)
    filled: int = 0
    still_missing: int = 0
    destination_ids: np.ndarray | None = None
    dropped_as_known: int = 0


def _rules_spec(rows: int) -> list[tuple[str, str, str, str]]:
    """(name, check type, column, expression) of the 10 rules."""
    return [
        ("sku_present", "NOT_NULL", "product_sku", ""),
        ("quantity_present", "NOT_NULL", "quantity", ""),
        ("sale_id_unique", "UNIQUE", "sale_id", ""),
        ("order_ref_unique", "UNIQUE", "order_ref", ""),
        ("region_known", "IS_IN_SET", "region", json.dumps(list(REGIONS), ensure_ascii=False)),
        ("amount_in_range", "RANGE", "amount", '{"min": 0, "max": 50000}'),
        ("sale_date_in_range", "RANGE", "sale_date", f'{{"min": "{FIRST_DAY}", "max": "{LAST_DAY}"}}'),
        ("email_well_formed", "REGEX", "customer_email", EMAIL_PATTERN),
        ("enough_rows", "ROW_COUNT_MIN", "", str(rows // 2)),
        ("amount_covers_quantity", "CUSTOM_SQL", "", CUSTOM),
    ]


# ------------------------------------------------------------------------------------ data


def _repeated_failures(values: np.ndarray, valid: np.ndarray) -> int:
    """Rows whose (non-NULL) value occurs more than once."""
    _, counts = np.unique(values[valid], return_counts=True)
    return int(counts[counts > 1].sum())


def _faulty(rng: np.random.Generator, rows: int, rate: float) -> np.ndarray:
    mask = np.zeros(rows, bool)
    mask[rng.choice(rows, size=max(1, int(rows * rate)), replace=False)] = True
    return mask


def generate(path: Path, rows: int, seed: int, missing_category: float = MISSING_CATEGORY) -> Truth:
    rng = np.random.default_rng(seed)
    faults = {name: _faulty(rng, rows, rate) for name, rate in RATES.items()}
    faults["category_missing"] = rng.random(rows) < missing_category
    sale_id = np.arange(1, rows + 1)
    repeat = np.flatnonzero(faults["id_repeat"])
    sale_id[repeat] = sale_id[(repeat + rng.integers(1, rows, repeat.size)) % rows]
    ref = rng.permutation(rows) + 10_000_000
    repeat = np.flatnonzero(faults["ref_repeat"])
    ref[repeat] = ref[(repeat + rng.integers(1, rows, repeat.size)) % rows]
    days = rng.integers(0, SPAN_DAYS + 1, rows)
    late = faults["date_late"]
    days[late] = LATE_DAY + rng.integers(0, 300, int(late.sum()))
    region = rng.integers(0, len(REGIONS), rows)
    sku = rng.integers(0, ALL_SKUS, rows)
    quantity = rng.integers(1, 51, rows)
    cents = quantity * rng.integers(100, 50_000 // 50 * 100, rows)
    cents[faults["amount_small"]] = quantity[faults["amount_small"]] * 25
    cents[faults["amount_negative"]] = -rng.integers(1, 100_000, int(faults["amount_negative"].sum()))
    email_ok = ~faults["email_bad"]
    quantity_null, sku_null, email_null = faults["quantity_null"], faults["sku_null"], faults["email_null"]
    region_null, missing = faults["region_null"], faults["category_missing"]

    def text(values) -> pa.Array:
        return pc.cast(pa.array(values), pa.string())

    columns = {
        "sale_id": text(sale_id),
        "order_ref": pc.binary_join_element_wise("ORD-", text(ref), ""),
        "sale_date": text((FIRST_DAY + days.astype("m8[D]")).astype("M8[D]")),
        "region": pc.if_else(pa.array(faults["region_bad"]), "Atlantis", pa.array(REGIONS).take(pa.array(region))),
        "product_sku": pc.utf8_lpad(text(sku), 5, "0"),
        "product_category": pa.repeat("Given", rows),
        "customer_email": pc.binary_join_element_wise(
            "user", text(sale_id), pc.if_else(pa.array(email_ok), "@example.com", ".example.com"), ""
        ),
        "quantity": text(quantity),
        "amount": pc.binary_join_element_wise(
            pc.if_else(pa.array(cents < 0), "-", ""),
            text(np.abs(cents) // 100),
            ".",
            pc.utf8_lpad(text(np.abs(cents) % 100), 2, "0"),
            "",
        ),
    }
    columns["product_sku"] = pc.binary_join_element_wise("SKU-", columns["product_sku"], "")
    nulls = {
        "product_sku": sku_null,
        "quantity": quantity_null,
        "region": region_null,
        "customer_email": email_null,
        "product_category": missing,
    }
    for name, mask in nulls.items():
        columns[name] = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), columns[name])
    _write_csv(path, [columns[c] for c in COLUMNS])

    truth = Truth(rows=rows)
    late = days > SPAN_DAYS
    truth.failing = {
        "sku_present": int(sku_null.sum()),
        "quantity_present": int(quantity_null.sum()),
        "sale_id_unique": _repeated_failures(sale_id, np.ones(rows, bool)),
        "order_ref_unique": _repeated_failures(ref, np.ones(rows, bool)),
        "region_known": int((faults["region_bad"] & ~region_null).sum()),
        "amount_in_range": int(((cents < 0) | (cents > 5_000_000)).sum()),
        "sale_date_in_range": int(late.sum()),
        "email_well_formed": int((faults["email_bad"] & ~email_null).sum()),
        "enough_rows": 0,
        # quantity NULL makes the condition NULL (passes); otherwise it fails when amount < quantity * 0.5
        "amount_covers_quantity": int((~quantity_null & (cents < quantity * 50)).sum()),
    }
    truth.filled = int((missing & ~sku_null & (sku < KNOWN_SKUS)).sum())
    truth.still_missing = int(missing.sum()) - truth.filled
    known = np.unique(sale_id[faults["known_in_destination"]])
    truth.destination_ids = np.concatenate([known, np.arange(rows + 1, rows + 1 + known.size)])  # + ids not in file
    truth.dropped_as_known = int(np.isin(sale_id, known).sum())
    return truth


def _write_csv(path: Path, columns: list[pa.Array]) -> None:
    """One header line, then rows; an empty unquoted field is NULL (no value here needs quoting)."""
    with open(path, "wb") as handle:
        handle.write((",".join(COLUMNS) + "\n").encode())
        step = 500_000
        for start in range(0, len(columns[0]), step):
            chunk = [c.slice(start, step) for c in columns]
            lines = pc.binary_join_element_wise(*chunk, ",", null_handling="replace", null_replacement="")
            text = pc.binary_join_element_wise(lines, "\n", "")
            offsets = np.frombuffer(text.buffers()[1], np.int32, len(text) + 1)
            handle.write(memoryview(text.buffers()[2])[offsets[0] : offsets[-1]])


# ------------------------------------------------------------------------------------ database


def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in (
        "quality.py", "quality_sql.py", "enrichment.py", "transform.py", "loader.py", "copy_stream.py", "session.py",
        "statistics.py",
    ):  # fmt: skip
        digest.update((ROOT / "dagster_code" / "engine" / name).read_bytes())
    for name in ("expressions.py", "predicate.py"):
        digest.update((ROOT / "launchpad_rules" / name).read_bytes())
    return digest.hexdigest()[:12]


def reset(conn, *tables: str) -> None:
    import psycopg
    from psycopg import sql

    for table in tables:
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(*table.split("."))))
    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        pass


def run_psql(psql: str, url: str, conn, table: str, path: str) -> float:
    from psycopg import sql

    if "'" in path or "\\" in path:
        raise SystemExit(f"refusing to quote the path {path!r} for psql's \\copy")
    target = sql.SQL("{} ({})").format(
        sql.Identifier(*table.split(".")), sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    )
    command = f"\\copy {target.as_string(conn)} FROM '{path}' WITH (FORMAT csv, HEADER true)"
    started = time.perf_counter()
    result = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", command], capture_output=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"psql \\copy failed ({result.returncode}): {result.stderr.decode().strip()}")
    return elapsed


def quality_rules(table: str, rows: int, severity: str = "WARN"):
    from dagster_code.engine.quality import QualityRule

    return [QualityRule(n, table, col, kind, expr, severity) for n, kind, col, expr in _rules_spec(rows)]


def rule_mismatches(results, truth: Truth) -> list[str]:
    return [
        f"{r.name}: {r.rows_failing} failing, planted {truth.failing[r.name]}"
        for r in results
        if r.rows_failing != truth.failing[r.name] or r.passed != (truth.failing[r.name] == 0)
    ]


def time_rules(conn, table: str, run_id: str, truth: Truth) -> tuple[float, list]:
    from dagster_code.engine.quality import evaluate_rules

    started = time.perf_counter()
    results = evaluate_rules(conn, table=table, run_id=run_id, rules=quality_rules(table, truth.rows))
    return time.perf_counter() - started, results


def time_pipeline(conn, schema: str, path: str, run_id: str, truth: Truth) -> tuple[float, dict, list[str]]:
    """The whole path of one append import; seconds per phase and what does not match the truth."""
    from dagster_code.engine.enrichment import EnrichmentRule
    from dagster_code.engine.loader import load_files
    from dagster_code.engine.parsers import get_parser
    from dagster_code.engine.quality import evaluate_rules
    from dagster_code.engine.transform import TransformStep, run_transform

    staging, destination = f"{schema}.stg", f"{schema}.sales"
    enrichment = EnrichmentRule(
        "category_from_products", staging, "product_category", f"{schema}.products", "product_sku", "sku", "category"
    )
    step = TransformStep("bench_sales", staging, destination, "append", strategy="insert", dedup_key=("sale_id",))
    phases: dict[str, float | bool] = {}
    clock = started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = round(now - clock, 3)
        clock = now

    with conn.transaction():  # as the staging asset runs them: load, enrichment and rules kept together, or none
        loaded = load_files(
            conn,
            table=staging,
            files=[Path(path)],
            parser=get_parser("csv"),
            options={},
            column_mapping=None,
            run_id=run_id,
            enrichment=[enrichment],
        )
        lap("load_and_enrichment_s")
        rules = quality_rules(staging, truth.rows)
        results = evaluate_rules(
            conn, table=staging, run_id=run_id, rules=rules, key_columns=step.dedup_key, destination=destination
        )
    lap("rules_s")
    [filled] = loaded.enrichment
    phases["enriched_in_stream"] = loaded.enriched_in_stream
    # as the transform asset does, with the row count the load reported
    [moved] = run_transform(conn, [replace(step, staged_rows=loaded.rows_loaded)], run_id)
    lap("dedup_and_transform_s")
    elapsed = time.perf_counter() - started
    problems = rule_mismatches(results, truth)
    expected_destination = len(truth.destination_ids) + truth.rows - truth.dropped_as_known
    checks = [
        ("rows loaded", loaded.rows_loaded, truth.rows),
        ("categories filled", filled.filled, truth.filled),
        ("categories still missing", filled.still_missing, truth.still_missing),
        ("rows left out as already loaded", moved.duplicates_removed, truth.dropped_as_known),
        ("destination rows", moved.destination_rows, expected_destination),
    ]
    problems += [f"{what}: {got}, expected {want}" for what, got, want in checks if got != want]
    return elapsed, phases, problems


def prepare(conn, schema: str, run_id: str) -> None:
    from psycopg import sql

    def create(name: str, columns: str) -> None:
        conn.execute(sql.SQL("CREATE TABLE {} (" + columns + ")" + QUIET).format(sql.Identifier(schema, name)))

    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    conn.execute(
        sql.SQL("CREATE TABLE {} (" + TYPES + ", dagster_run_id text NOT NULL DEFAULT {})" + QUIET).format(
            sql.Identifier(schema, "copied"), sql.Literal(run_id)
        )
    )
    create("stg", TYPES + ", dagster_run_id text NOT NULL")
    create("sales", TYPES + ", loaded_at timestamptz NOT NULL DEFAULT now()")
    create("products", "sku text PRIMARY KEY, category text NOT NULL")
    conn.execute(
        sql.SQL(
            "INSERT INTO {} SELECT 'SKU-' || lpad(n::text, 5, '0'), 'Category ' || (n %% 40) "
            "FROM generate_series(0, %s) AS n"
        ).format(sql.Identifier(schema, "products")),
        (KNOWN_SKUS - 1,),
    )


def reset_destination(conn, schema: str, truth: Truth) -> None:
    from psycopg import sql

    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(schema, "sales")))
    conn.execute(
        sql.SQL("INSERT INTO {} (sale_id, order_ref) SELECT n, 'OLD-' || n FROM unnest(%s::integer[]) AS n").format(
            sql.Identifier(schema, "sales")
        ),
        (truth.destination_ids.tolist(),),
    )
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, "sales")))


# ------------------------------------------------------------------------------------ main


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the generated CSV (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per side; the best counts (default 5)")
    ap.add_argument(
        "--missing-category",
        type=float,
        default=MISSING_CATEGORY,
        help=f"share of rows without product_category, filled by enrichment (default {MISSING_CATEGORY})",
    )
    ap.add_argument("--seed", type=int, default=20240601, help="random seed for the generated data")
    ap.add_argument("--tmpdir", default=None, help="where to write the CSV (default: the system temp dir)")
    args = ap.parse_args(argv)
    if args.rows < 10 or args.repeat < 1 or not 0 <= args.missing_category <= 1:
        ap.error("--rows must be at least 10, --repeat at least 1, --missing-category between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    import psycopg
    from psycopg import sql

    fingerprint = code_fingerprint()
    psql = psql_binary()
    run_id = f"quality-bench-{args.seed}"
    schema = f"quality_bench_{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="launchpad-quality-bench-", dir=args.tmpdir) as tmp:
        path = Path(tmp) / "sales.csv"
        print(f"generating {args.rows:,} rows with planted violations ...", flush=True)
        clock = time.perf_counter()
        truth = generate(path, args.rows, args.seed, args.missing_category)
        size_mb = path.stat().st_size / 2**20
        print(f"  {size_mb:.1f} MB in {time.perf_counter() - clock:.1f}s; planted: {truth.failing}", flush=True)

        url = warehouse_url()
        conn = psycopg.connect(url, autocommit=True)
        copies, rules, paths, problems = [], [], [], []
        try:
            server = conn.execute("SHOW server_version").fetchone()[0]
            prepare(conn, schema, run_id)
            copied = f"{schema}.copied"
            for i in range(args.repeat):
                reset(conn, copied)
                copy_s = run_psql(psql, url, conn, copied, str(path))
                rules_s, results = time_rules(conn, copied, run_id, truth)
                problems += [f"(b) {p}" for p in rule_mismatches(results, truth)]
                reset(conn, f"{schema}.stg")
                reset_destination(conn, schema, truth)
                path_s, phases, path_problems = time_pipeline(conn, schema, str(path), run_id, truth)
                problems += [f"(c) {p}" for p in path_problems]
                copies.append(copy_s)
                rules.append(rules_s)
                paths.append((path_s, phases))
                print(
                    f"  run {i + 1}: \\copy {copy_s:.2f}s, 10 rules {rules_s:.2f}s, whole path {path_s:.2f}s {phases}",
                    flush=True,
                )
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.close()

    if code_fingerprint() != fingerprint:
        print("WARNING: the engine's code changed while the bench ran; the figures mix versions", file=sys.stderr)
        fingerprint += "+changed"
    for line in results_table(results):
        print(line)
    report(args, size_mb, server, fingerprint, copies, rules, paths, problems)
    return 0 if not problems else 1


def results_table(results) -> list[str]:
    return [f"  {r.check_type:<13} {r.name:<24} {r.rows_failing:>8,} failing  {r.message}" for r in results]


def report(args, size_mb, server, fingerprint, copies, rules, paths, problems) -> None:
    copy_s, rules_s = min(copies), min(rules)
    path_s, phases = min(paths, key=lambda p: p[0])
    figures = {
        "rows": args.rows,
        "rules_vs_copy_time": round(rules_s / copy_s, 3),
        "pipeline_ratio_vs_psql_copy": round(copy_s / path_s, 3),
        "counts_match": not problems,
    }
    print()
    print(f"Quality benchmark: {args.rows:,} rows, {size_mb:.1f} MB CSV, PostgreSQL {server}, best of {args.repeat}")
    print(f"  (a) psql \\copy        : {copy_s:7.2f}s {args.rows / copy_s:>11,.0f} rows/s")
    print(
        f"  (b) 10 rules          : {rules_s:7.2f}s  rules / copy = {figures['rules_vs_copy_time']:.2f} (target <= 1.0)"
    )
    print(
        f"  (c) whole append path : {path_s:7.2f}s {args.rows / path_s:>11,.0f} rows/s  path / copy rows/s = "
        f"{figures['pipeline_ratio_vs_psql_copy']:.2f} (target >= 0.33); {phases}"
    )
    print(f"  counts match the planted truth: {not problems}; code: {fingerprint}")
    for problem in problems:
        print(f"  MISMATCH {problem}", file=sys.stderr)
    detail = {
        "copy_s": round(copy_s, 3),
        "rules_s": round(rules_s, 3),
        "path_s": round(path_s, 3),
        **{f"path_{k}": v for k, v in phases.items()},
        "file_mb": round(size_mb, 2),
        "missing_category": args.missing_category,
        "repeat": args.repeat,
        "server": server,
        "code": fingerprint,
        "targets_met": {
            "rules_vs_copy_time": figures["rules_vs_copy_time"] <= TARGETS["rules_vs_copy_time"],
            "pipeline_ratio_vs_psql_copy": figures["pipeline_ratio_vs_psql_copy"]
            >= TARGETS["pipeline_ratio_vs_psql_copy"],
        },
    }
    print(f"  detail: {json.dumps(detail)}")
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
