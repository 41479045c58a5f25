"""The job store: the database engine, tables, queries and migrations."""
