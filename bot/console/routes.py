"""The caseworker console's pages at /console (Jinja2, Danish strings from data/ui/console/da.yml).

Pages redirect to the login when nobody is signed in; the live parts (queue and transcript
fragments, the event stream) answer 401. Every POST, the login included, needs the session's
CSRF token. A conversation outside the caseworker's municipality does not exist for them (404).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from bot.console.auth import (
    ROLES, UserError, authenticate, create_user, csrf_token, csrf_valid, end_session, find_session, start_session,
)
from bot.console.casework import Console, NotOpen
from bot.console.models import ConsoleUser
from bot.handoff.desk import Handoff, as_utc

HERE = Path(__file__).resolve().parent
COOKIE = "velkommen_console"
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/console")
templates = Jinja2Templates(directory=HERE / "templates")


@dataclass(frozen=True)
class Viewer:
    user: ConsoleUser
    token: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def console_of(request: Request) -> Console:
    return request.app.state.console


def signed_in(request: Request) -> Viewer | None:
    console = console_of(request)
    token = request.cookies.get(COOKIE)
    found = find_session(console.sessions, console.policy, token, console.now())
    return Viewer(found[1], token) if found and found[1] is not None and token else None


def page_viewer(request: Request) -> Viewer:
    viewer = signed_in(request)
    if viewer is None:
        raise HTTPException(303, "sign in first", headers={"Location": "/console/login"})
    return viewer


def live_viewer(request: Request) -> Viewer:
    viewer = signed_in(request)
    if viewer is None:
        raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Cookie"})
    return viewer


def admin(viewer: Viewer = Depends(page_viewer)) -> Viewer:
    if viewer.user.role != "admin":
        raise HTTPException(403, "admins only")
    return viewer


async def checked_form(request: Request, viewer: Viewer) -> FormData:
    form = await request.form()
    if not csrf_valid(viewer.token, form.get("csrf")):
        raise HTTPException(403, "CSRF token missing or wrong")
    return form


def handoff_or_404(request: Request, viewer: Viewer, conversation_id: str) -> Handoff:
    handoff = console_of(request).handoff_of(viewer.user.municipality, conversation_id)
    if handoff is None:
        raise HTTPException(404, "no such conversation")
    return handoff


def page(request: Request, name: str, viewer: Viewer | None, status: int = 200, **context: Any) -> HTMLResponse:
    console = console_of(request)
    municipality = viewer.user.municipality if viewer else None
    response = templates.TemplateResponse(request, name, {
        "t": console.ui["strings"], "ui": console.ui, "viewer": viewer, "csrf": viewer.csrf if viewer else "",
        "municipality": console.pipeline.kb.municipality_name(municipality) if municipality else "",
        "console": console, **context,
    }, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def back_to(conversation_id: str, **query: str) -> RedirectResponse:
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    return RedirectResponse(f"/console/conversations/{conversation_id}" + (f"?{suffix}" if suffix else ""), 303)


async def handoff_not_open(request: Request, error: NotOpen) -> RedirectResponse:
    """A form acted on a handoff that was closed or returned meanwhile (another caseworker, another tab):
    back to its page, which says so. Every such form's path names the conversation."""
    return back_to(request.path_params["conversation_id"], error="not_open")


def with_session_cookie(response: Response, console: Console, token: str) -> Response:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=console.secure_cookies, path="/console")
    return response


# -- signing in and out -------------------------------------------------------------------------------

@router.get("/login")
def login_page(request: Request) -> Response:
    if signed_in(request) is not None:
        return RedirectResponse("/console/", 303)
    return login_form(request)


def login_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    """The form with a fresh anonymous session, so the login POST is CSRF-protected too."""
    console = console_of(request)
    end_session(console.sessions, request.cookies.get(COOKIE))
    token = start_session(console.sessions, console.policy, None, console.now())
    response = page(request, "login.html", None, status, login_csrf=csrf_token(token), error=error)
    return with_session_cookie(response, console, token)


@router.post("/login")
async def login(request: Request) -> Response:
    console = console_of(request)
    strings = console.ui["strings"]
    token = request.cookies.get(COOKIE)
    form = await request.form()
    if find_session(console.sessions, console.policy, token, console.now()) is None or not csrf_valid(token or "", form.get("csrf")):
        return login_form(request, strings["form_expired"], 403)
    username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))[:1024]
    user, account = authenticate(console.sessions, console.policy, username, password, console.now())
    if user is None:
        console.audit(None, "login_failed", actor=account.username if account else username,
                      municipality=account.municipality if account else None)
        error = strings["login_failed"].format(attempts=console.policy.lockout_after_failures,
                                                minutes=console.policy.lockout_minutes)
        return login_form(request, error, 401)
    end_session(console.sessions, token)
    console.audit(user, "login")
    new_token = start_session(console.sessions, console.policy, user.id, console.now())
    return with_session_cookie(RedirectResponse("/console/", 303), console, new_token)


@router.post("/logout")
async def logout(request: Request, viewer: Viewer = Depends(page_viewer)) -> Response:
    console = console_of(request)
    await checked_form(request, viewer)
    end_session(console.sessions, viewer.token)
    console.audit(viewer.user, "logout")
    response = RedirectResponse("/console/login", 303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# -- the queue and the live stream ----------------------------------------------------------------------

@router.get("/")
def queue_page(request: Request, viewer: Viewer = Depends(page_viewer)) -> Response:
    return page(request, "queue.html", viewer, items=console_of(request).queue(viewer.user.municipality))


@router.get("/queue")
def queue_rows(request: Request, viewer: Viewer = Depends(live_viewer)) -> Response:
    return page(request, "_queue_rows.html", viewer, items=console_of(request).queue(viewer.user.municipality))


@router.get("/events")
async def events(request: Request, viewer: Viewer = Depends(live_viewer)) -> StreamingResponse:
    """Server-sent events: a notice whenever the municipality's queue or one of its conversations changes."""
    bus = request.app.state.events

    async def stream() -> AsyncIterator[str]:
        subscription = bus.subscribe(f"console:{viewer.user.municipality}")
        waiting: asyncio.Future | None = None
        try:
            yield "retry: 3000\n\n"
            while not await request.is_disconnected():
                waiting = waiting or asyncio.ensure_future(anext(subscription))
                done, _ = await asyncio.wait({waiting}, timeout=15)
                if not done:
                    yield ": keep-alive\n\n"
                    continue
                event, waiting = waiting.result(), None
                yield f"data: {json.dumps(event)}\n\n"
        finally:
            if waiting is not None:  # the pending read ends the subscription when cancelled
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await waiting
            await subscription.aclose()

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


# -- one conversation -------------------------------------------------------------------------------------

@router.get("/conversations/{conversation_id}")
def conversation_page(request: Request, conversation_id: str, done: str = "", error: str = "",
                      viewer: Viewer = Depends(page_viewer)) -> Response:
    console = console_of(request)
    handoff = handoff_or_404(request, viewer, conversation_id)
    console.audit(viewer.user, "view", handoff=handoff)
    strings = console.ui["strings"]
    return page(
        request, "conversation.html", viewer, handoff=handoff, conversation=console.conversation(handoff),
        lines=console.transcript(handoff), notes=console.notes(conversation_id),
        colleagues=console.users(viewer.user.municipality, active_only=True), phrases=console.phrases,
        waited=int((console.now() - as_utc(handoff.created_at)).total_seconds() // 60),
        notice=strings.get(f"done_{done}"), error=strings.get(f"error_{error}"),
    )


@router.get("/conversations/{conversation_id}/transcript")
def transcript(request: Request, conversation_id: str, viewer: Viewer = Depends(live_viewer)) -> Response:
    console = console_of(request)
    handoff = handoff_or_404(request, viewer, conversation_id)
    console.audit(viewer.user, "view", handoff=handoff, live=True)
    return page(request, "_transcript.html", viewer, handoff=handoff, lines=console.transcript(handoff))


@router.post("/conversations/{conversation_id}/reply")
async def reply(request: Request, conversation_id: str, viewer: Viewer = Depends(page_viewer)) -> Response:
    console = console_of(request)
    form = await checked_form(request, viewer)
    handoff = handoff_or_404(request, viewer, conversation_id)
    chosen = console.phrases.get(str(form.get("phrase", "")))
    text = str(form.get("text", "")).strip()[:4000] or (chosen["da"] if chosen else "")
    if not text:
        return back_to(conversation_id, error="empty_reply")
    message = await console.reply(viewer.user, handoff, text)
    return back_to(conversation_id, done="reply_failed" if message.status == "failed" else "reply")


@router.post("/conversations/{conversation_id}/note")
async def note(request: Request, conversation_id: str, viewer: Viewer = Depends(page_viewer)) -> Response:
    console = console_of(request)
    form = await checked_form(request, viewer)
    handoff = handoff_or_404(request, viewer, conversation_id)
    text = str(form.get("text", "")).strip()[:4000]
    if not text:
        return back_to(conversation_id, error="empty_note")
    console.note(viewer.user, handoff, text)
    return back_to(conversation_id, done="note")


@router.post("/conversations/{conversation_id}/assign")
async def assign(request: Request, conversation_id: str, viewer: Viewer = Depends(page_viewer)) -> Response:
    console = console_of(request)
    form = await checked_form(request, viewer)
    handoff = handoff_or_404(request, viewer, conversation_id)
    wanted = str(form.get("assignee", viewer.user.id))
    assignee = next((u for u in console.users(viewer.user.municipality, active_only=True) if str(u.id) == wanted), None)
    if assignee is None:
        return back_to(conversation_id, error="bad_assignee")
    console.assign(viewer.user, handoff, assignee)
    return back_to(conversation_id, done="assign")


@router.post("/conversations/{conversation_id}/close")
async def close(request: Request, conversation_id: str, viewer: Viewer = Depends(page_viewer)) -> Response:
    console = console_of(request)
    form = await checked_form(request, viewer)
    handoff = handoff_or_404(request, viewer, conversation_id)
    outcome = str(form.get("outcome", ""))
    if outcome not in console.ui["outcomes"]:
        return back_to(conversation_id, error="bad_outcome")
    return await released(request, viewer, handoff, "closed", outcome)


@router.post("/conversations/{conversation_id}/return")
async def return_to_assistant(request: Request, conversation_id: str, viewer: Viewer = Depends(page_viewer)) -> Response:
    await checked_form(request, viewer)
    return await released(request, viewer, handoff_or_404(request, viewer, conversation_id), "returned")


async def released(request: Request, viewer: Viewer, handoff: Handoff, status: str, outcome: str | None = None) -> Response:
    await console_of(request).release(viewer.user, handoff, status, outcome)
    return back_to(handoff.conversation_id, done="close" if status == "closed" else "return")


@router.get("/conversations/{conversation_id}/export")
def export(request: Request, conversation_id: str, viewer: Viewer = Depends(page_viewer)) -> Response:
    handoff = handoff_or_404(request, viewer, conversation_id)
    body = console_of(request).export(viewer.user, handoff)
    return JSONResponse(body, headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="velkommen-{conversation_id}.json"'})


# -- administration ----------------------------------------------------------------------------------------

@router.get("/admin/users")
def users_page(request: Request, done: str = "", viewer: Viewer = Depends(admin)) -> Response:
    return users_form(request, viewer, notice=console_of(request).ui["strings"].get(f"done_{done}"))


def users_form(request: Request, viewer: Viewer, status: int = 200, **context: Any) -> Response:
    console = console_of(request)
    return page(request, "users.html", viewer, status, users=console.users(viewer.user.municipality), roles=ROLES,
                min_length=console.policy.password_min_length, **context)


@router.post("/admin/users")
async def add_user(request: Request, viewer: Viewer = Depends(admin)) -> Response:
    console = console_of(request)
    form = await checked_form(request, viewer)
    try:
        user = create_user(
            console.sessions, console.policy, console.pipeline.kb.municipalities,
            username=str(form.get("username", "")), display_name=str(form.get("display_name", ""))[:128],
            password=str(form.get("password", "")), role=str(form.get("role", "")), municipality=viewer.user.municipality,
        )
    except UserError as error:
        return users_form(request, viewer, 422, error=console.ui["strings"][f"error_{error.code}"])
    console.audit(viewer.user, "user_created", username=user.username, user_role=user.role)
    return RedirectResponse("/console/admin/users?done=user", 303)


@router.get("/admin/audit")
def audit_page(request: Request, before: int | None = None, viewer: Viewer = Depends(admin)) -> Response:
    console = console_of(request)
    console.audit(viewer.user, "audit_read")
    entries = console.audit_entries(viewer.user.municipality, before)
    return page(request, "audit.html", viewer, entries=entries, older=entries[-1].id if len(entries) == 100 else None)


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"X-Content-Type-Options": "nosniff"})
