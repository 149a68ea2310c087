"""Persistence: tables, engine and the queries, one module per aggregate."""
