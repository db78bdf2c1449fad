"""The embeddable web chat's server side: widget files (gzip, ETag, caching), UI strings, CORS,
demo pages, the event stream and erasing a conversation."""
from __future__ import annotations

import json
import threading
import time

import pytest
import yaml
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.settings import ROOT
from bot.stack import free_port
from tests.gateway.conftest import gateway_settings, start

UI_DIR = ROOT / "data/ui"
LANGUAGES = yaml.safe_load((UI_DIR / "languages.yml").read_text(encoding="utf-8"))
CONFIG = yaml.safe_load((ROOT / "config/web_chat.yml").read_text(encoding="utf-8"))
MUNICIPALITIES = yaml.safe_load((ROOT / "data/knowledge/municipalities.yml").read_text(encoding="utf-8"))["municipalities"]


def ui_file(code: str) -> dict:
    return yaml.safe_load((UI_DIR / f"{code}.yml").read_text(encoding="utf-8"))


@pytest.fixture
def gateway(tmp_path, monkeypatch) -> TestClient:
    """A gateway with one extra embedding site from the environment; its Rasa is down (not needed here)."""
    monkeypatch.setenv("VELKOMMEN_ALLOWED_ORIGINS", "https://www.extra-kommune.example, https://second.example")
    settings = gateway_settings(tmp_path, f"http://127.0.0.1:{free_port()}", "unused-token")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("name", ["widget.js", "widget.css"])
def test_widget_files_are_gzipped_cached_and_revalidated_by_etag(gateway, name):
    on_disk = (ROOT / "bot/static" / name).read_bytes()
    zipped = gateway.get(f"/{name}", headers={"Accept-Encoding": "gzip"})
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == on_disk  # httpx decoded it
    assert int(zipped.headers["content-length"]) < len(on_disk) / 2
    assert "max-age=" in zipped.headers["cache-control"] and "public" in zipped.headers["cache-control"]
    assert "Accept-Encoding" in zipped.headers["vary"]

    plain = gateway.get(f"/{name}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == on_disk
    assert plain.headers["etag"] != zipped.headers["etag"]

    again = gateway.get(f"/{name}", headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == zipped.headers["etag"] and again.headers["cache-control"]
    stale = gateway.get(f"/{name}", headers={"Accept-Encoding": "gzip", "If-None-Match": '"something-else"'})
    assert stale.status_code == 200


def test_cors_refuses_an_unlisted_origin(gateway):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    refused = gateway.options("/api/conversations", headers={"Origin": "https://evil.example", **preflight})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    read = gateway.get("/api/ui/en", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in read.headers


def test_cors_allows_configured_origins_and_those_from_the_environment(gateway):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for origin in [CONFIG["allowed_origins"][0], "https://www.extra-kommune.example", "https://second.example"]:
        allowed = gateway.options("/api/conversations", headers={"Origin": origin, **preflight})
        assert allowed.status_code == 200, origin
        assert allowed.headers["access-control-allow-origin"] == origin
    posted = gateway.post("/api/conversations", json={"municipality": "faxe"},
                          headers={"Origin": "https://second.example"})
    assert posted.status_code == 201
    assert posted.headers["access-control-allow-origin"] == "https://second.example"


def test_ui_strings_exist_for_every_picker_language_with_the_same_keys():
    english = ui_file("en")["strings"]
    codes = [entry["code"] for entry in LANGUAGES["picker"]]
    assert {"da", "en", "ar", "uk", "fa", "so", "ti", "tr"} <= set(codes)
    for code in codes:
        translation = ui_file(code)
        assert set(translation["strings"]) == set(english), code
        assert all(isinstance(text, str) and text.strip() for text in translation["strings"].values()), code
        assert translation["review"] == ("approved" if code in ("en", "da") else "draft"), code


def test_ui_strings_are_served_per_language_with_direction_and_picker(gateway):
    for entry in LANGUAGES["picker"]:
        served = gateway.get(f"/api/ui/{entry['code']}")
        assert served.status_code == 200
        body = served.json()
        assert body["strings"] == ui_file("en")["strings"] | ui_file(entry["code"])["strings"]
        assert body["dir"] == ("rtl" if entry["code"] in ("ar", "fa") else "ltr")
        assert [language["code"] for language in body["languages"]] == [e["code"] for e in LANGUAGES["picker"]]
        assert served.headers["etag"] and "max-age=" in served.headers["cache-control"]
    assert gateway.get("/api/ui/xx").status_code == 404
    assert gateway.get("/api/ui/..%2Fen").status_code == 404


def test_demo_pages_carry_the_one_script_tag_for_each_municipality(gateway):
    index = gateway.get("/demo")
    assert index.status_code == 200
    for slug, place in MUNICIPALITIES.items():
        assert f'href="/demo/{slug}"' in index.text
        page = gateway.get(f"/demo/{slug}").text
        assert page.count("<script ") == 1
        assert f'<script src="http://testserver/widget.js" data-municipality="{slug}" defer></script>' in page
        assert f"<header>{place['name']}</header>" in page
        assert '<html lang="da">' in page
    assert gateway.get("/demo/aarhus").status_code == 404


def test_demo_page_escapes_a_forged_host_header(gateway):
    page = gateway.get("/demo/faxe", headers={"Host": 'x"><img src=x onerror=alert(1)>'}).text
    assert "<img" not in page


def test_delete_erases_the_conversation(gateway):
    conversation = start(gateway, "faxe")
    assert gateway.get(f"/api/conversations/{conversation}/messages").status_code == 200
    erased = gateway.delete(f"/api/conversations/{conversation}")
    assert erased.status_code == 204
    assert gateway.get(f"/api/conversations/{conversation}/messages").status_code == 404
    assert gateway.post(f"/api/conversations/{conversation}/messages", json={"text": "hello"}).status_code == 404
    assert gateway.delete(f"/api/conversations/{conversation}").status_code == 404
    assert gateway.get(f"/api/conversations/{conversation}/events").status_code == 404


def read_events(response, until: str) -> list[dict]:
    """Parses a text/event-stream until an event of type `until` (or the stream's end)."""
    events, current = [], {}
    for line in response.iter_lines():
        if line:
            field, _, value = line.partition(": ")
            current[field] = value
            continue
        if "data" in current or "event" in current:
            events.append(current)
            if current.get("event", "message") == until:
                break
        current = {}
    return events


def test_event_stream_resumes_after_the_last_seq_then_follows_new_messages_until_erased(gateway):
    """Replies reach the stream as the pipeline delivers them (the assistant being down still
    produces a reply), after the seq in Last-Event-ID; erasing the conversation ends the stream."""
    started = gateway.post("/api/conversations", json={"municipality": "faxe"}).json()
    conversation, (disclosure, privacy) = started["id"], started["messages"]

    def another_client() -> None:
        time.sleep(0.5)
        gateway.post(f"/api/conversations/{conversation}/messages", json={"text": "hello there", "client_id": "c-1"})
        time.sleep(0.5)
        gateway.delete(f"/api/conversations/{conversation}")

    poster = threading.Thread(target=another_client)
    poster.start()
    with gateway.stream("GET", f"/api/conversations/{conversation}/events",
                        headers={"Last-Event-ID": str(disclosure["seq"])}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = read_events(stream, until="erased")
    poster.join()
    messages = [json.loads(event["data"]) for event in events if event.get("event", "message") == "message"]
    assert messages[0]["seq"] == privacy["seq"] and messages[0]["text"] == privacy["text"]
    assert messages[1]["role"] == "user" and messages[1]["text"] == "hello there" and messages[1]["client_id"] == "c-1"
    assert messages[2]["role"] == "assistant"
    assert [int(event["id"]) for event in events[:3]] == [m["seq"] for m in messages[:3]]
    assert events[-1]["event"] == "erased"


def test_event_stream_after_parameter_skips_what_the_client_has(gateway):
    started = gateway.post("/api/conversations", json={"municipality": "faxe"}).json()
    conversation, last = started["id"], started["messages"][-1]["seq"]
    threading.Timer(0.5, lambda: gateway.delete(f"/api/conversations/{conversation}")).start()
    with gateway.stream("GET", f"/api/conversations/{conversation}/events", params={"after": last}) as stream:
        events = read_events(stream, until="erased")
    assert [event.get("event") for event in events] == ["erased"]


def test_closing_an_event_stream_leaves_no_subscriber_behind(gateway):
    conversation = start(gateway, "faxe")
    with gateway.stream("GET", f"/api/conversations/{conversation}/events") as stream:
        read_events(stream, until="message")
        assert conversation in gateway.app.state.events.subscribers
    deadline = time.monotonic() + 5
    while conversation in gateway.app.state.events.subscribers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert conversation not in gateway.app.state.events.subscribers
