"""A database backend under another module name, built on Django's PostgreSQL one."""

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper


class DatabaseWrapper(PostgresWrapper):
    pass
