-- Demo data for the analytics hub: two years of daily sales by region and channel, and a product catalogue.
-- Deterministic (no random()): the same rows on every machine. Safe to run again.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS dw;

CREATE TABLE IF NOT EXISTS staging.sales_history (
    sale_date      date,
    region         text,
    channel        text,
    orders         integer,
    revenue        numeric(12, 2),
    dagster_run_id text NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS dw.sales_history (
    sale_date date NOT NULL,
    region    text NOT NULL,
    channel   text NOT NULL,
    orders    integer NOT NULL,
    revenue   numeric(12, 2) NOT NULL,
    dagster_run_id text NOT NULL DEFAULT 'demo',
    PRIMARY KEY (sale_date, region, channel)
);

-- Revenue = base per region and channel x growth x weekly pattern x yearly season x noise, with a few planted
-- anomalies (a till outage, a flash sale) and, in the last 60 days, the Web channel of the North collapsing:
-- something for the forecast, anomaly and root-cause pages to find.
WITH days AS (
    SELECT d::date AS sale_date, (d::date - DATE '2023-01-01') AS n
    FROM generate_series(DATE '2023-01-01', DATE '2024-12-31', INTERVAL '1 day') AS d
),
segments AS (
    SELECT region, channel, base
    FROM (VALUES ('North', 'Store', 900.0), ('North', 'Web', 650.0), ('South', 'Store', 1100.0),
                 ('South', 'Web', 420.0), ('East', 'Store', 760.0), ('East', 'Web', 530.0),
                 ('West', 'Store', 980.0), ('West', 'Web', 610.0)) AS s(region, channel, base)
),
shaped AS (
    SELECT d.sale_date, s.region, s.channel,
           s.base
           * (1 + d.n / 730.0 * 0.25)
           * (CASE extract(isodow FROM d.sale_date) WHEN 6 THEN 1.35 WHEN 7 THEN 1.2 WHEN 1 THEN 0.85 ELSE 1.0 END)
           * (1 + 0.18 * sin(2 * pi() * (extract(doy FROM d.sale_date) - 80) / 365.25))
           * (0.92 + 0.16 * (('x' || substr(md5(d.sale_date::text || s.region || s.channel), 1, 8))::bit(32)::bigint
                              / 4294967295.0))
           * (CASE WHEN d.sale_date = DATE '2024-03-14' AND s.region = 'South' THEN 0.15
                   WHEN d.sale_date = DATE '2024-07-05' AND s.channel = 'Web' THEN 2.6
                   WHEN d.sale_date = DATE '2023-11-24' THEN 2.2
                   WHEN d.sale_date > DATE '2024-11-01' AND s.region = 'North' AND s.channel = 'Web' THEN 0.45
                   ELSE 1.0 END) AS revenue
    FROM days AS d CROSS JOIN segments AS s
)
INSERT INTO dw.sales_history (sale_date, region, channel, orders, revenue)
SELECT sale_date, region, channel, greatest(1, round(revenue / 38.0))::integer, round(revenue::numeric, 2)
FROM shaped
ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS staging.products (
    sku            text,
    name           text,
    category       text,
    description    text,
    unit_price     numeric(10, 2),
    dagster_run_id text NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS dw.products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    category    text NOT NULL,
    description text NOT NULL,
    unit_price  numeric(10, 2) NOT NULL,
    dagster_run_id text NOT NULL DEFAULT 'demo'
);

INSERT INTO dw.products (sku, name, category, description, unit_price) VALUES
    ('SKU-1001', 'Trail running shoes', 'Footwear', 'Lightweight shoes with a grippy sole for muddy mountain paths', 89.00),
    ('SKU-1002', 'Waterproof hiking boots', 'Footwear', 'Leather boots that keep feet dry on long wet hikes', 129.00),
    ('SKU-1003', 'Wool socks (3 pairs)', 'Footwear', 'Warm merino socks for cold weather and winter walks', 19.00),
    ('SKU-2001', 'Insulated water bottle', 'Kitchen', 'Keeps drinks cold for a day or hot coffee for twelve hours', 25.00),
    ('SKU-2002', 'Cast iron skillet', 'Kitchen', 'Heavy pan for searing steak and baking cornbread over a campfire', 42.00),
    ('SKU-2003', 'Espresso maker', 'Kitchen', 'Stovetop pot that brews strong coffee in five minutes', 35.00),
    ('SKU-2004', 'Chef knife', 'Kitchen', 'Sharp stainless steel blade for slicing vegetables and meat', 59.00),
    ('SKU-3001', 'Two-person tent', 'Camping', 'Compact shelter that sets up in minutes and survives storms and wind', 149.00),
    ('SKU-3002', 'Down sleeping bag', 'Camping', 'Warm bag rated for freezing nights in the mountains', 189.00),
    ('SKU-3003', 'Camping stove', 'Camping', 'Small gas burner to boil water and cook meals outdoors', 49.00),
    ('SKU-3004', 'Head torch', 'Camping', 'Bright rechargeable lamp worn on the head for night walks', 29.00),
    ('SKU-4001', 'Rain jacket', 'Clothing', 'Breathable shell that keeps you dry in heavy rain', 120.00),
    ('SKU-4002', 'Fleece pullover', 'Clothing', 'Soft warm layer for chilly evenings', 55.00),
    ('SKU-4003', 'Sun hat', 'Clothing', 'Wide brim hat that protects the face and neck from strong sunshine', 24.00),
    ('SKU-4004', 'Thermal leggings', 'Clothing', 'Base layer that keeps legs warm when skiing in the snow', 39.00),
    ('SKU-5001', 'Yoga mat', 'Fitness', 'Non-slip mat for stretching, pilates and home workouts', 32.00),
    ('SKU-5002', 'Adjustable dumbbells', 'Fitness', 'Weights from 2 to 24 kg for strength training at home', 219.00),
    ('SKU-5003', 'Jump rope', 'Fitness', 'Speed rope for cardio and boxing warm-ups', 12.00),
    ('SKU-5004', 'Fitness tracker', 'Fitness', 'Wristband that counts steps, heart rate and sleep', 79.00),
    ('SKU-6001', 'Bike helmet', 'Cycling', 'Ventilated helmet that protects your head on road and city rides', 65.00),
    ('SKU-6002', 'Bike lights set', 'Cycling', 'Front and rear LED lights so drivers see you after dark', 34.00),
    ('SKU-6003', 'Puncture repair kit', 'Cycling', 'Patches, levers and glue to fix a flat tyre on the road', 9.00),
    ('SKU-6004', 'Cycling gloves', 'Cycling', 'Padded gloves that reduce hand numbness on long rides', 22.00)
ON CONFLICT DO NOTHING;
