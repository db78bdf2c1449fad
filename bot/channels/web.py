"""The web chat's JSON API: server-issued conversations, posting messages, reading replies."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from bot.pipeline import BadChoice, Pipeline, Reply, Turn, UnknownConversation
from bot.store.models import Message

router = APIRouter(prefix="/api")


class NewConversation(BaseModel):
    municipality: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=8)


class IncomingMessage(BaseModel):
    text: str = Field(default="", max_length=20000)
    choice: str | None = Field(default=None, max_length=64)
    client_id: str | None = Field(default=None, max_length=64)


def pipeline_of(request: Request) -> Pipeline:
    return request.app.state.pipeline


def rendered_reply(reply: Reply) -> dict[str, Any]:
    return {
        "seq": reply.seq, "role": "assistant", "text": reply.web_text or reply.text, "language": reply.language,
        "topic": reply.topic, "translated": reply.translated, "sources": reply.sources, "buttons": reply.buttons,
        "handoff": reply.handoff,
    }


def rendered_message(message: Message) -> dict[str, Any]:
    if message.role == "user":
        return {"seq": message.seq, "role": "user", "text": message.original_text or message.text,
                "language": message.language}
    return rendered_reply(Pipeline.reply_from_message(message))


@router.post("/conversations", status_code=201)
async def start_conversation(body: NewConversation, request: Request) -> dict[str, Any]:
    pipeline = pipeline_of(request)
    try:
        conversation = pipeline.start_conversation("web", body.municipality, body.language)
    except ValueError as error:
        raise HTTPException(422, str(error)) from error
    first = pipeline.disclosure(conversation.id)
    return {"id": conversation.id, "messages": [rendered_message(m) for m in first]}


@router.post("/conversations/{conversation_id}/messages")
async def post_message(conversation_id: str, body: IncomingMessage, request: Request) -> dict[str, Any]:
    try:
        turn: Turn = await pipeline_of(request).handle(conversation_id, body.text, body.choice, body.client_id)
    except UnknownConversation as error:
        raise HTTPException(404, "no such conversation") from error
    except BadChoice as error:
        raise HTTPException(422, "unknown choice") from error
    return {
        "seq": turn.user_seq, "language": turn.language, "topic": turn.topic, "crisis": turn.crisis is not None,
        "handoff": turn.handoff, "replies": [rendered_reply(r) for r in turn.replies],
    }


@router.get("/conversations/{conversation_id}/messages")
async def list_messages(conversation_id: str, request: Request, after: int = 0) -> dict[str, Any]:
    try:
        messages = pipeline_of(request).messages(conversation_id, after)
    except UnknownConversation as error:
        raise HTTPException(404, "no such conversation") from error
    return {"messages": [rendered_message(m) for m in messages]}
