"""Pydantic schemas, broker message bodies, topology names and settings both services import."""
