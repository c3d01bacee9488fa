"""PostgreSQL functions that write a JSON value as the CSV writer does (`json.dumps` with
sorted keys, floats as Python writes them), so that an export can stream from `COPY ... TO
STDOUT` and still be the Python writer's file byte for byte (audit.trail.csvfiles).

One case is left out: a float of 2**53 or more inside JSON. PostgreSQL keeps JSON numbers as
decimals, so 1e+16 reads back as an integer, and its shortest form of such a float may differ
from Python's in the last digit."""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION assistgov_py_float(x double precision) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 1 AS $$
DECLARE
    t text := x::text;
    fixed text;
BEGIN
    -- PostgreSQL writes 1e15 <= |x| < 1e16 with an exponent, Python without one.
    IF t ~ 'e\+15$' THEN
        fixed := t::numeric::text;
        RETURN CASE WHEN strpos(fixed, '.') = 0 THEN fixed || '.0' ELSE fixed END;
    END IF;
    IF t IN ('NaN', 'Infinity', '-Infinity') OR strpos(t, '.') + strpos(t, 'e') > 0 THEN
        RETURN t;
    END IF;
    RETURN t || '.0';  -- a whole number: Python writes 3.0
END $$;

CREATE OR REPLACE FUNCTION assistgov_py_json(j jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 1 AS $$
BEGIN
    CASE jsonb_typeof(j)
    WHEN 'object' THEN
        RETURN '{' || coalesce((
            SELECT string_agg(to_jsonb(key)::text || ': ' || assistgov_py_json(value), ', '
                              ORDER BY key COLLATE "C")
            FROM jsonb_each(j)), '') || '}';
    WHEN 'array' THEN
        RETURN '[' || coalesce((
            SELECT string_agg(assistgov_py_json(value), ', ' ORDER BY n)
            FROM jsonb_array_elements(j) WITH ORDINALITY AS e(value, n)), '') || ']';
    WHEN 'number' THEN
        -- Python reads a number with a decimal point as a float, without one as an int.
        IF strpos(j::text, '.') = 0 THEN
            RETURN j::text;
        END IF;
        RETURN assistgov_py_float(j::text::double precision);
    ELSE
        RETURN j::text;  -- strings are escaped as json.dumps(ensure_ascii=False) does
    END CASE;
END $$;

-- float_cell: 15 significant digits (as extra_float_digits 0 writes them), 6 decimals.
CREATE OR REPLACE FUNCTION assistgov_csv_float(x double precision) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 0 AS $$
DECLARE
    t text := (round(x::numeric, 6)::double precision + 0)::text;
BEGIN
    IF t IN ('NaN', 'Infinity', '-Infinity') THEN
        RETURN CASE t WHEN 'NaN' THEN 'nan' WHEN 'Infinity' THEN 'inf' ELSE '''-inf' END;
    END IF;
    IF strpos(t, '.') + strpos(t, 'e') = 0 THEN
        t := t || '.0';
    END IF;
    RETURN CASE WHEN left(t, 1) = '-' THEN '''' || t ELSE t END;
END $$;

CREATE OR REPLACE FUNCTION assistgov_csv_json(j jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 1 AS $$
DECLARE
    t text;
BEGIN
    CASE jsonb_typeof(j)
    WHEN 'null' THEN
        RETURN NULL;
    WHEN 'string' THEN
        t := j #>> '{}';
        RETURN CASE WHEN left(t, 1) IN ('=', '+', '-', '@', E'\t', E'\r', E'\n')
                    THEN '''' || t ELSE t END;
    WHEN 'boolean' THEN
        RETURN CASE WHEN j = 'true'::jsonb THEN 'yes' ELSE 'no' END;
    WHEN 'number' THEN
        IF strpos(j::text, '.') = 0 THEN
            RETURN CASE WHEN left(j::text, 1) = '-' THEN '''' || j::text ELSE j::text END;
        END IF;
        RETURN assistgov_csv_float(j::text::double precision);
    ELSE
        RETURN assistgov_py_json(j);
    END CASE;
END $$;
"""

DROP = """
DROP FUNCTION IF EXISTS assistgov_csv_json(jsonb);
DROP FUNCTION IF EXISTS assistgov_csv_float(double precision);
DROP FUNCTION IF EXISTS assistgov_py_json(jsonb);
DROP FUNCTION IF EXISTS assistgov_py_float(double precision);
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("audit", "0026_people")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
