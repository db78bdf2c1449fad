"""Builds the gateway: the pipeline with its parts, and the channels mounted on one FastAPI app."""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from functools import partial
from typing import AsyncIterator

import redis.asyncio as redis
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from actions.knowledge import Knowledge
from bot.channels import web, widget
from bot.channels.setup import Channels
from bot.console import routes as console
from bot.console.casework import Console, NotOpen
from bot.delivery import Delivery
from bot.handoff.desk import HandoffDesk
from bot.events import EventBus
from bot.language.detect import LanguageDetector
from bot.language.glossary import Glossary
from bot.language.languages import Languages
from bot.language.translate import Translator
from bot.pipeline import Pipeline
from bot.privacy import privacy_page
from bot.rasa_client import RasaClient
from bot.safety.crisis import CrisisDetector
from bot.safety.limits import Limits, LimitsMiddleware, preferred_language
from bot.safety.pii import PersonalDataRedactor
from bot.scale.events import RedisEventBus
from bot.scale.rate_limits import RedisTokenBuckets
from bot.scale.turn_locks import RedisTurnLocks, TurnBusy
from bot.settings import Settings
from bot.store.db import open_store


def build_pipeline(settings: Settings, delivery: Delivery | None = None) -> Pipeline:
    languages = Languages.load(settings.data_dir)
    translator = Translator.load(  # loads and warms the installed argos packages now, not on a first message
        settings.argos_packages_dir, Glossary.from_file(settings.data_dir / "language/glossary.yml"),
        list(languages.assistant), languages.machine_codes, settings.argos_intra_threads)
    sessions = open_store(settings.database_url)
    knowledge = Knowledge.load(settings.data_dir)
    delivery = delivery or Delivery(event_bus(settings))
    return Pipeline(
        sessions,
        knowledge,
        LanguageDetector.from_files(settings.data_dir / "language/languages.yml", settings.data_dir / "language/detection.yml"),
        CrisisDetector.from_file(settings.data_dir / "safety/crisis.yml"),
        translator,
        RasaClient(settings.rasa_urls, settings.rasa_token, settings.rasa_timeout_s),
        delivery,
        assistant_languages=list(languages.assistant),
        default_language=languages.default,
        privacy_url=settings.privacy_url,
        max_message_chars=settings.max_message_chars,
        redactor=PersonalDataRedactor.from_file(settings.data_dir / "safety/pii.yml"),
        tracker_url=settings.tracker_url,
        locks=RedisTurnLocks(settings.redis_url, settings.turn_lock_s, settings.turn_lock_s) if settings.scale else None,
        languages=languages,
        handoffs=HandoffDesk.load(sessions, knowledge, delivery.events, settings.config_dir),
    )


def event_bus(settings: Settings) -> EventBus:
    """In-process by default; through Redis in scale mode, so every worker's subscribers hear every worker."""
    return RedisEventBus(settings.redis_url) if settings.scale else EventBus()


async def resume_periodically(pipeline: Pipeline, interval_s: float) -> None:
    """Answers messages kept while the assistant was down, at start and then every interval."""
    while True:
        try:
            await pipeline.resume_pending()
        except Exception:  # the store or the assistant is still down; try again next round
            logging.getLogger(__name__).exception("resuming pending messages failed")
        await asyncio.sleep(interval_s)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    events = event_bus(settings)
    delivery = Delivery(events)
    pipeline = build_pipeline(settings, delivery)
    limits_store = redis.from_url(settings.redis_url) if settings.scale else None
    limits = Limits.from_file(
        settings.config_dir / "limits.yml", shared=partial(RedisTokenBuckets.named, limits_store) if limits_store else None)
    channels = Channels.build(settings, pipeline, delivery, limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resuming = asyncio.create_task(resume_periodically(pipeline, settings.resume_interval_s))
        await channels.start()
        yield
        await channels.stop()
        resuming.cancel()
        await pipeline.rasa.close()
        if settings.scale:
            await events.close()
            await pipeline.locks.close()
            await limits_store.aclose()

    app = FastAPI(title="Velkommen gateway", lifespan=lifespan)
    app.state.pipeline = pipeline
    app.state.settings = settings
    app.state.events = events
    app.state.delivery = delivery
    app.state.channels = channels
    app.state.outbox = channels.outbox
    app.include_router(web.router)
    app.state.console = Console.load(pipeline, delivery, settings)
    app.include_router(console.router)
    app.add_exception_handler(NotOpen, console.handoff_not_open)
    channels.mount(app)
    app.add_middleware(
        LimitsMiddleware, limits=limits,
        polite_text=lambda accept_language: pipeline.kb.message("rate_limited", preferred_language(
            accept_language, set(pipeline.assistant_languages), pipeline.default_language)),
    )
    widget.mount(app, settings, pipeline.kb.municipalities)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(TurnBusy)
    async def store_unavailable(request: Request, error: Exception) -> JSONResponse:
        """The database is down or locked: a retryable 503, never a 200 that drops the message."""
        language = preferred_language(request.headers.get("accept-language", ""), set(pipeline.assistant_languages),
                                      pipeline.default_language)
        return JSONResponse({"detail": pipeline.kb.message("service_busy", language)}, 503, {"Retry-After": "5"})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/privacy", response_class=HTMLResponse)
    async def privacy(lang: str = "en") -> str:
        return privacy_page(settings.config_dir / "privacy.yml", lang)

    return app
