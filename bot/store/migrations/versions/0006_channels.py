"""Telegram and SMS: channel links, the inbox (provider ids unique), the outbox, SMS opt-outs."""
import sqlalchemy as sa
from alembic import op

revision = "0006_channels"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_links",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("user_key", sa.String(128), primary_key=True),
        sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "channel_inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("person", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("error", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("channel", "external_id", name="uq_channel_inbox_external_id"),
    )
    op.create_index("ix_channel_inbox_status", "channel_inbox", ["channel", "status"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE")),
        sa.Column("message_seqs", sa.JSON, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default="message"),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("buttons", sa.JSON, nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("not_before", sa.Float, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("provider_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_outbox_lane", "outbox", ["channel", "recipient", "status", "id"])
    op.create_index("ix_outbox_conversation_id", "outbox", ["conversation_id"])
    op.create_table(
        "sms_opt_outs",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sms_opt_outs")
    op.drop_table("outbox")
    op.drop_table("channel_inbox")
    op.drop_table("channel_links")
