"""The web chat's JSON API: server-issued conversations, posting messages, reading replies
(also as server-sent events), erasing a conversation. Endpoints that only read or write the store
are plain functions (FastAPI runs them in its thread pool), so the event loop never waits on it."""
from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Annotated, Any, AsyncIterator

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from bot.events import EventBus
from bot.pipeline import BadChoice, Pipeline, Reply, Turn, UnknownConversation
from bot.store.models import Message

router = APIRouter(prefix="/api")
EVENTS_RECHECK_S = 15.0  # an event stream also re-reads the store this often, in case a notice was missed
MAX_SEQ = 2**63 - 1  # the largest message number a database integer holds
Seq = Annotated[int, Query(ge=0, le=MAX_SEQ)]


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
                "language": message.language, "client_id": message.client_id}
    return rendered_reply(Pipeline.reply_from_message(message)) | {"role": message.role}


@router.post("/conversations", status_code=201)
def start_conversation(body: NewConversation, request: Request) -> dict[str, Any]:
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
def list_messages(conversation_id: str, request: Request, after: Seq = 0) -> dict[str, Any]:
    try:
        messages = pipeline_of(request).messages(conversation_id, after)
    except UnknownConversation as error:
        raise HTTPException(404, "no such conversation") from error
    return {"messages": [rendered_message(m) for m in messages]}


@router.get("/conversations/{conversation_id}/export")
def export_conversation(conversation_id: str, request: Request) -> dict[str, Any]:
    """Export-my-data: everything stored about this conversation, as JSON."""
    try:
        return pipeline_of(request).export(conversation_id)
    except UnknownConversation as error:
        raise HTTPException(404, "no such conversation") from error


def known_conversation(conversation_id: str, request: Request) -> str:
    try:
        pipeline_of(request).conversation(conversation_id)
    except UnknownConversation as error:
        raise HTTPException(404, "no such conversation") from error
    return conversation_id


async def flag_each_event(events: EventBus, topic: str, flag: asyncio.Event) -> None:
    async for _ in events.subscribe(topic):
        flag.set()


@router.get("/conversations/{conversation_id}/events", response_class=EventSourceResponse)
async def conversation_events(
    request: Request, conversation_id: Annotated[str, Depends(known_conversation)], after: Seq = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Every message after the client's last seq (`after`, or Last-Event-ID when the browser
    reconnects), then each new one as it is delivered; FastAPI adds keep-alive comments. Ends with
    an `erased` event when the conversation is erased."""
    pipeline = pipeline_of(request)
    resumed = int(last_event_id) if last_event_id and last_event_id.isascii() and last_event_id.isdigit() else 0
    seq = max(after, min(resumed, MAX_SEQ))
    changed = asyncio.Event()
    watcher = asyncio.create_task(flag_each_event(request.app.state.events, conversation_id, changed))
    await asyncio.sleep(0)  # the in-process bus registers the subscriber now, before the store is read
    try:
        while True:
            changed.clear()
            try:
                messages = await asyncio.to_thread(pipeline.messages, conversation_id, seq)
            except UnknownConversation:
                yield ServerSentEvent(event="erased", data={})
                return
            for message in messages:
                seq = message.seq
                yield ServerSentEvent(data=rendered_message(message), id=str(seq))
            with suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), EVENTS_RECHECK_S)
    finally:
        watcher.cancel()


@router.delete("/conversations/{conversation_id}", status_code=204)
async def erase_conversation(conversation_id: str, request: Request) -> Response:
    """The web chat's "Delete this conversation": erased everywhere it is kept; open event streams end."""
    try:
        await pipeline_of(request).erase(conversation_id)
    except UnknownConversation as error:
        raise HTTPException(404, "no such conversation") from error
    request.app.state.events.publish(conversation_id, {"type": "erased"})
    return Response(status_code=204)
