"""Pure ELT engine: parsers, loader, transforms, file watching.

Nothing here imports Django or Dagster: functions take plain values (paths, a psycopg
connection, frozen dataclasses) and return plain values, so they are tested with pytest
and a database only.
"""
