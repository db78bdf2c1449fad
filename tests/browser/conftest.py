"""Browser test fixtures: a real gateway served by uvicorn on a free port (on the session's Rasa
stack), headless Debian Chromium driven by Playwright, and helpers to read the chat widget."""
from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from bot.app import create_app
from bot.settings import ROOT
from bot.stack import free_port
from tests.gateway.conftest import gateway_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
WAIT_MS = 30_000


def ui_strings(code: str) -> dict[str, str]:
    english = yaml.safe_load((ROOT / "data/ui/en.yml").read_text(encoding="utf-8"))["strings"]
    return english | yaml.safe_load((ROOT / f"data/ui/{code}.yml").read_text(encoding="utf-8"))["strings"]


@dataclass
class LiveGateway:
    url: str
    app: FastAPI
    site_url: str  # a municipality's site embedding the widget, on an origin the gateway allows
    unlisted_site_url: str  # the same page on an origin the gateway does not know

    def api(self) -> httpx.Client:
        """A second API client, talking to the same gateway as the browser."""
        return httpx.Client(base_url=self.url, timeout=60)


def municipality_site(port: int, gateway_url: str) -> ThreadingHTTPServer:
    """A stand-in for a municipality's web server: every path is a page with the one script tag."""
    page = ('<!doctype html><html lang="da"><head><meta charset="utf-8"><title>Kommunen</title></head><body><main>'
            f'<h1>Ny i kommunen</h1></main><script src="{gateway_url}/widget.js" data-municipality="faxe" defer>'
            '</script></body></html>').encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def gateway(stack, tmp_path_factory) -> LiveGateway:  # noqa: F811
    port, site_port = free_port(), free_port()
    url, site_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{site_port}"
    previous = os.environ.get("VELKOMMEN_ALLOWED_ORIGINS")
    os.environ["VELKOMMEN_ALLOWED_ORIGINS"] = site_url
    try:
        settings = gateway_settings(tmp_path_factory.mktemp("gateway"), stack.rasa_url, stack.token)
        app = create_app(dataclasses.replace(settings, public_url=url))
    finally:
        if previous is None:
            os.environ.pop("VELKOMMEN_ALLOWED_ORIGINS")
        else:
            os.environ["VELKOMMEN_ALLOWED_ORIGINS"] = previous
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test gateway did not start")
        time.sleep(0.05)
    site = municipality_site(site_port, url)
    yield LiveGateway(url, app, f"{site_url}/ny-i-kommunen", f"http://localhost:{site_port}/ny-i-kommunen")
    site.shutdown()
    server.should_exit = True
    thread.join(15)


@pytest.fixture(scope="session")
def browser() -> Browser:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> BrowserContext:
    """A fresh browser profile (empty localStorage) with an English-speaking user."""
    fresh = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    fresh.set_default_timeout(WAIT_MS)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def shadow_focus(page: Page) -> dict | None:
    """The focused element inside the widget's shadow root, with what makes its focus visible."""
    return page.evaluate("""() => {
        const host = document.querySelector('[data-velkommen-chat]');
        const active = host && host.shadowRoot.activeElement;
        if (!active) return null;
        const style = getComputedStyle(active);
        return {tag: active.tagName.toLowerCase(), id: active.id, className: active.className,
                outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth)};
    }""")


def tab_to(page: Page, matches, limit: int = 25, key: str = "Tab") -> dict:
    """Presses Tab (or `key`) until the focused widget element satisfies `matches` (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press(key)
        focused = shadow_focus(page)
        if focused and matches(focused):
            return focused
    raise AssertionError(f"Tab never reached the element; last focus {shadow_focus(page)}")


def stored_conversation(page: Page, municipality: str) -> str | None:
    return page.evaluate(f"() => (JSON.parse(localStorage.getItem('velkommen:{municipality}')) || {{}}).id || null")


def bubbles(page: Page) -> list[dict]:
    """Every message shown, in order: role, text, source labels, whether a source is a link."""
    return page.evaluate("""() => {
        const root = document.querySelector('[data-velkommen-chat]').shadowRoot;
        return [...root.querySelectorAll('.vk-msg')].map(node => ({
            role: node.classList.contains('vk-mine') ? 'user' : 'assistant',
            seq: node.dataset.seq ? Number(node.dataset.seq) : null,
            text: node.querySelector('.vk-text').textContent,
            sources: [...node.querySelectorAll('.vk-source')].map(s => s.textContent),
            sourceLinks: node.querySelectorAll('.vk-source a').length,
            links: [...node.querySelectorAll('.vk-text a')].map(a => a.href),
            machineTranslated: !!node.querySelector('.vk-note'),
        }));
    }""")


def wait_for_bubbles(page: Page, count: int) -> list[dict]:
    page.wait_for_function(
        "n => document.querySelector('[data-velkommen-chat]').shadowRoot.querySelectorAll('.vk-msg').length >= n", arg=count)
    return bubbles(page)
