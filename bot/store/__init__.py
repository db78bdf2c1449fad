"""Persistence for conversations and messages (SQLAlchemy 2; SQLite by default, migrations by Alembic)."""
