"""Alembic migrations of the conversation store (applied at start by ``gateway.store.migrate``)."""
