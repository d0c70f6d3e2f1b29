"""Whether a database has the tables of some models yet.

Django sends post_migrate after every migrate, also one that migrated a single app
or went back to an earlier state; hooks that write rows check their tables first.
"""

from __future__ import annotations

from django.db import connections
from django.db.models import Model


def tables_exist(using: str, *models: type[Model]) -> bool:
    wanted = {model._meta.db_table for model in models}
    return wanted <= set(connections[using].introspection.table_names())
