"""Handoffs to caseworkers and the caseworker console: users, sessions, notes, and an append-only
audit log (the database itself refuses UPDATE and DELETE on it)."""
import sqlalchemy as sa
from alembic import op

revision = "0005_handoff_console"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_APPEND_ONLY = """
CREATE TRIGGER audit_log_no_{verb} BEFORE {verb} ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
"""
POSTGRES_APPEND_ONLY = (
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)


def upgrade() -> None:
    op.add_column("conversations", sa.Column("handoff_pending", sa.String(32)))
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("municipality", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("console_users.id", ondelete="CASCADE")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("municipality", sa.String(32), nullable=False, index=True),
        sa.Column("language", sa.String(8)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("consent", sa.String(16), nullable=False),
        sa.Column("contact_time", sa.String(16)),
        sa.Column("transcript_seq", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.Integer),
        sa.Column("assigned_to", sa.Integer, sa.ForeignKey("console_users.id", ondelete="SET NULL")),
        sa.Column("outcome", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "console_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("handoff_id", sa.Integer, sa.ForeignKey("handoffs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("console_users.id", ondelete="SET NULL")),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # No foreign keys: deleting a conversation or a user must never need to touch the audit log.
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16)),
        sa.Column("municipality", sa.String(32), index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(64)),
        sa.Column("handoff_id", sa.Integer),
        sa.Column("details", sa.JSON, nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(SQLITE_APPEND_ONLY.format(verb=verb))
    elif dialect == "postgresql":
        for statement in POSTGRES_APPEND_ONLY:
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("console_notes")
    op.drop_table("handoffs")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
    op.drop_column("conversations", "handoff_pending")
