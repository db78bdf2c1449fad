"""Every migration head runs on PostgreSQL, also when several workers start at the same time."""
from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

import bot.app  # noqa: F401  (imports every module that defines tables)
from bot.settings import ROOT
from bot.store.db import MIGRATIONS, open_engine, open_store
from bot.store.models import Base, Conversation, Message

pytestmark = pytest.mark.scale


def test_all_heads_migrate_on_postgresql_from_several_workers_at_once(postgres):
    url = postgres.create_database("migrations")
    workers = [subprocess.Popen([sys.executable, "-c", f"from bot.store.db import open_store; open_store({url!r})"],
                                cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(4)]  # four workers start together
    for worker in workers:
        _, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors[-2000:]
    stores = [open_store(url), open_store(url)]
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    engine = open_engine(url)
    with engine.connect() as connection:
        applied = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
        tables = set(inspect(connection).get_table_names())
    assert applied == heads
    assert set(Base.metadata.tables) <= tables, "a model table has no migration"
    with stores[0].begin() as session:  # the mapped models fit the migrated schema
        session.add(Conversation(id="c", channel="web", messages=[Message(role="user", text="hej", details={"reply_to": 1})]))
    with stores[1]() as session:
        found = session.scalars(select(Message).where(Message.details["reply_to"].as_integer() == 1)).one()
    assert found.text == "hej"
