-- Demo warehouse objects for the RetailSales pipeline. Safe to run again.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS dw;

CREATE TABLE IF NOT EXISTS staging.daily_sales (
    sale_id        integer,
    sale_date      date,
    region         text,
    product_sku    text,
    quantity       integer,
    amount         numeric(12, 2),
    dagster_run_id text NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS daily_sales_run_id_idx ON staging.daily_sales (dagster_run_id);

CREATE TABLE IF NOT EXISTS dw.sales (
    sale_id        integer PRIMARY KEY,
    sale_date      date NOT NULL,
    region         text NOT NULL,
    product_sku    text NOT NULL,
    quantity       integer NOT NULL,
    amount         numeric(12, 2) NOT NULL,
    dagster_run_id text NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);

-- Called as CALL dw.sp_transform_daily_sales(run_id, tables_to_truncate).
-- Re-delivering a file updates its rows instead of duplicating them.
CREATE OR REPLACE PROCEDURE dw.sp_transform_daily_sales(run_id text, tables_to_truncate text[])
LANGUAGE plpgsql
AS $$
BEGIN
    IF 'dw.sales' = ANY (coalesce(tables_to_truncate, '{}')) THEN
        TRUNCATE TABLE dw.sales;
    END IF;

    INSERT INTO dw.sales (sale_id, sale_date, region, product_sku, quantity, amount, dagster_run_id)
    SELECT DISTINCT ON (s.sale_id)
           s.sale_id, s.sale_date, trim(s.region), upper(trim(s.product_sku)), s.quantity, s.amount, s.dagster_run_id
    FROM staging.daily_sales AS s
    WHERE s.dagster_run_id = run_id
    ORDER BY s.sale_id, s.loaded_at DESC
    ON CONFLICT (sale_id) DO UPDATE
        SET sale_date = EXCLUDED.sale_date,
            region = EXCLUDED.region,
            product_sku = EXCLUDED.product_sku,
            quantity = EXCLUDED.quantity,
            amount = EXCLUDED.amount,
            dagster_run_id = EXCLUDED.dagster_run_id,
            loaded_at = now();
END;
$$;
