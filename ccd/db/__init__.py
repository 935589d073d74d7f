"""Database adapter: SQLAlchemy 2 async engines (PostgreSQL via asyncpg, SQLite via
aiosqlite), tables, API tokens and Alembic migrations."""

from ccd.db.engine import create_engine, ping
from ccd.db.models import Base, metadata
from ccd.db.tokens import TokenInfo, TokenStore

__all__ = ["Base", "TokenInfo", "TokenStore", "create_engine", "metadata", "ping"]
