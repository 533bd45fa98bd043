"""Hash indexes on param and tag values, PostgreSQL only.

``params.p = 'x'`` and ``tags.t = 'x'`` filters otherwise scan the whole table. A btree index cannot take values
longer than ~2.7 KB (MLflow allows 6,000-character params and 8,000-character tags); a hash index has no such limit
and serves the equality lookups that filters make. SQLite has no hash indexes and its planner walks the per-run
unique indexes instead.
"""

from __future__ import annotations

from django.db import migrations

INDEXES = {
    "tracking_param_value_hash": "tracking_param",
    "tracking_runtag_value_hash": "tracking_runtag",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING hash (value)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("tracking", "0002_default_experiment")]
    operations = [migrations.RunPython(create, drop)]
