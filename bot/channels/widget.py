"""The embeddable web chat (one <script> tag on a municipality's page): serves widget.js and
widget.css (gzip, ETag, Cache-Control), the widget's UI strings per language from data/ui, the
CORS policy for the sites allowed to embed it (config/web_chat.yml), and a demo page per
municipality. The conversation itself goes through the JSON API in bot/channels/web.py.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, Response

from bot.settings import ROOT, Settings

STATIC_DIR = ROOT / "bot/static"
STATIC_FILES = {"widget.js": "text/javascript; charset=utf-8", "widget.css": "text/css; charset=utf-8"}

router = APIRouter()


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Asset:
    """A response body kept in memory plain and gzipped, with an ETag per encoding."""

    body: bytes
    gzipped: bytes
    media_type: str
    digest: str
    cache_control: str

    @classmethod
    def of(cls, body: bytes, media_type: str, max_age_s: int) -> "Asset":
        return cls(body, gzip.compress(body, 9, mtime=0), media_type, hashlib.sha256(body).hexdigest()[:24],
                   f"public, max-age={max_age_s}")

    def response(self, request: Request) -> Response:
        wants_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
        etag = f'"{self.digest}-gzip"' if wants_gzip else f'"{self.digest}"'
        headers = {"ETag": etag, "Cache-Control": self.cache_control, "Vary": "Accept-Encoding"}
        if etag_matches(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        if wants_gzip:
            headers["Content-Encoding"] = "gzip"
        return Response(self.gzipped if wants_gzip else self.body, media_type=self.media_type, headers=headers)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/ prefixes are ignored; * matches anything."""
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def ui_payloads(ui_dir: Path) -> dict[str, dict[str, Any]]:
    """The UI strings per picker language: English fills any key a draft translation lacks."""
    spec = read_yaml(ui_dir / "languages.yml")
    english = read_yaml(ui_dir / f"{spec['default']}.yml")["strings"]
    picker = [{"code": entry["code"], "name": entry["name"]} for entry in spec["picker"]]
    payloads: dict[str, dict[str, Any]] = {}
    for entry in picker:
        translation = read_yaml(ui_dir / f"{entry['code']}.yml")
        unknown = set(translation["strings"]) - set(english)
        if unknown:
            raise ValueError(f"{ui_dir / entry['code']}.yml: keys not in {spec['default']}.yml: {sorted(unknown)}")
        payloads[entry["code"]] = {
            "language": entry["code"], "dir": "rtl" if entry["code"] in spec["rtl"] else "ltr",
            "review": translation["review"], "strings": english | translation["strings"], "languages": picker,
        }
    return payloads


def origin_of(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(settings: Settings, config: dict[str, Any]) -> list[str]:
    extra = os.environ.get("VELKOMMEN_ALLOWED_ORIGINS", "").replace(",", " ").split()
    return sorted({origin_of(url) for url in [*(config.get("allowed_origins") or []), *extra, settings.public_url]})


@dataclass(frozen=True)
class WebChat:
    assets: dict[str, Asset]
    ui: dict[str, Asset]
    demo: dict[str, str]
    municipalities: dict[str, str]  # slug -> name
    public_url: str

    @classmethod
    def load(cls, settings: Settings, config: dict[str, Any], municipalities: dict[str, dict[str, Any]]) -> "WebChat":
        max_age = int(config["cache_max_age_s"])
        assets = {name: Asset.of((STATIC_DIR / name).read_bytes(), media_type, max_age)
                  for name, media_type in STATIC_FILES.items()}
        ui = {code: Asset.of(json.dumps(payload, ensure_ascii=False).encode(), "application/json", max_age)
              for code, payload in ui_payloads(settings.data_dir / "ui").items()}
        return cls(assets, ui, config["demo"], {slug: place["name"] for slug, place in municipalities.items()},
                   settings.public_url.rstrip("/"))

    def snippet(self, base_url: str, municipality: str) -> str:
        return f'<script src="{base_url}/widget.js" data-municipality="{municipality}" defer></script>'

    def page(self, title: str, body: str, script: str = "") -> str:
        return (
            f'<!doctype html><html lang="{escape(self.demo["language"])}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title><link rel="icon" href="data:,"><style>'
            "body{margin:0;font:17px/1.5 system-ui,sans-serif;color:#1b1b1b;background:#fff}"
            "header{background:#26323d;color:#fff;padding:1rem 1.5rem;font-weight:700}"
            "main{max-width:42rem;padding:1rem 1.5rem 9rem}a{color:#1d4e89}"
            "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f2f2f2;padding:.75rem;border-radius:4px}"
            f"</style></head><body>{body}{script}</body></html>"
        )

    def demo_index(self) -> str:
        links = "".join(f'<li><a href="/demo/{slug}">{escape(name)}</a></li>' for slug, name in self.municipalities.items())
        body = (f'<header>Velkommen</header><main><h1>{escape(self.demo["index_title"])}</h1>'
                f'<p>{escape(self.demo["index_intro"])}</p><ul>{links}</ul></main>')
        return self.page(self.demo["index_title"], body)

    def demo_page(self, municipality: str, script_base: str) -> str:
        name = self.municipalities[municipality]
        title = self.demo["title"].format(municipality=name)
        body = (f"<header>{escape(name)}</header><main><h1>{escape(title)}</h1><p>{escape(self.demo['intro'])}</p>"
                f"<h2>{escape(self.demo['embed_heading'])}</h2><p>{escape(self.demo['embed_intro'])}</p>"
                f"<pre><code>{escape(self.snippet(self.public_url, municipality))}</code></pre></main>")
        return self.page(title, body, self.snippet(escape(script_base), municipality))


def web_chat(request: Request) -> WebChat:
    return request.app.state.web_chat


def mount(app: FastAPI, settings: Settings, municipalities: dict[str, dict[str, Any]]) -> None:
    """Adds the widget's routes and the CORS policy (outermost, so refusals and 429s carry it)."""
    config = read_yaml(settings.config_dir / "web_chat.yml")
    app.state.web_chat = WebChat.load(settings, config, municipalities)
    app.include_router(router)
    app.add_middleware(
        CORSMiddleware, allow_origins=allowed_origins(settings, config), allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["content-type", "last-event-id"], max_age=600,
    )


@router.get("/widget.js")
async def widget_script(request: Request) -> Response:
    return web_chat(request).assets["widget.js"].response(request)


@router.get("/widget.css")
async def widget_style(request: Request) -> Response:
    return web_chat(request).assets["widget.css"].response(request)


@router.get("/api/ui/{language}")
async def ui_strings(language: str, request: Request) -> Response:
    asset = web_chat(request).ui.get(language)
    if asset is None:
        raise HTTPException(404, "no UI strings for this language")
    return asset.response(request)


@router.get("/demo", response_class=HTMLResponse)
async def demo_index(request: Request) -> str:
    return web_chat(request).demo_index()


@router.get("/demo/{municipality}", response_class=HTMLResponse)
async def demo_page(municipality: str, request: Request) -> str:
    chat = web_chat(request)
    if municipality not in chat.municipalities:
        raise HTTPException(404, "no such municipality")
    return chat.demo_page(municipality, str(request.base_url).rstrip("/"))
