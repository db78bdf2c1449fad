"""Builds the gateway: the pipeline with its parts, and the channels mounted on one FastAPI app."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import yaml
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from actions.knowledge import Knowledge
from bot.channels import web
from bot.delivery import Delivery
from bot.events import EventBus
from bot.language.detect import LanguageDetector
from bot.language.translate import Translator
from bot.pipeline import Pipeline
from bot.privacy import privacy_page
from bot.rasa_client import RasaClient
from bot.safety.crisis import CrisisDetector
from bot.settings import Settings
from bot.store.db import open_store


def build_pipeline(settings: Settings, delivery: Delivery | None = None) -> Pipeline:
    languages = yaml.safe_load((settings.data_dir / "language/languages.yml").read_text(encoding="utf-8"))
    return Pipeline(
        open_store(settings.database_url),
        Knowledge.load(settings.data_dir),
        LanguageDetector.from_file(settings.data_dir / "language/languages.yml"),
        CrisisDetector.from_file(settings.data_dir / "safety/crisis.yml"),
        Translator(languages["assistant"]),
        RasaClient(settings.rasa_url, settings.rasa_token, settings.rasa_timeout_s),
        delivery or Delivery(EventBus()),
        assistant_languages=languages["assistant"],
        default_language=languages["default"],
        privacy_url=settings.privacy_url,
        max_message_chars=settings.max_message_chars,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    events = EventBus()
    delivery = Delivery(events)
    pipeline = build_pipeline(settings, delivery)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await pipeline.rasa.close()

    app = FastAPI(title="Velkommen gateway", lifespan=lifespan)
    app.state.pipeline = pipeline
    app.state.settings = settings
    app.state.events = events
    app.state.delivery = delivery
    app.include_router(web.router)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/privacy", response_class=HTMLResponse)
    async def privacy(lang: str = "en") -> str:
        return privacy_page(settings.config_dir / "privacy.yml", lang)

    return app
