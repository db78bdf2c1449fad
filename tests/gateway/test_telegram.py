"""Telegram through the real python-telegram-bot client, the real pipeline and Rasa, against a
stand-in Bot API on 127.0.0.1: secret-checked webhooks, update_id de-duplication, commands and
buttons, splitting, 429 handling, deletion, a caseworker round trip, and polling mode."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from actions.knowledge import Knowledge
from bot.app import create_app
from bot.channels.inbox import InboundReceipt
from bot.channels.links import ChannelLink
from bot.channels.telegram import split_text, utf16_units
from bot.outbox import OutboxItem
from bot.store.models import Conversation, Message
from tests.gateway.channel_standins import (  # noqa: F401 — fixtures
    Failure, channel_env, channels_client, console_user, count, deliver_caseworker, post_update, settle, telegram_api,
    telegram_button, telegram_message, twilio_api, wait_until_ready,
)
from tests.gateway.conftest import gateway_settings

KB = Knowledge.load()
PRIVACY_URL = "http://127.0.0.1:8000/privacy"


def conversation_of(client: TestClient, chat_id: int) -> Conversation:
    with client.app.state.pipeline.sessions() as session:
        link = session.get(ChannelLink, ("telegram", str(chat_id)))
        return session.get(Conversation, link.conversation_id)


def texts(sent: list[dict]) -> list[str]:
    return [entry["text"] for entry in sent]


def choices(entry: dict) -> list[str]:
    return [button["callback_data"] for row in entry["reply_markup"]["inline_keyboard"] for button in row]


def test_forged_or_missing_secret_is_refused_and_nothing_is_stored(channels_client, telegram_api):
    update = telegram_message(501, "where can I learn Danish?")
    assert post_update(channels_client, update, secret=None).status_code == 403
    assert post_update(channels_client, update, secret="not-the-secret").status_code == 403
    assert post_update(channels_client, update, secret="standin_webhook-secreT").status_code == 403
    time.sleep(0.5)
    assert count(channels_client, InboundReceipt) == 0
    assert count(channels_client, Conversation) == 0 and count(channels_client, Message) == 0
    assert telegram_api.to(501) == []


def test_malformed_update_is_refused_without_storing(channels_client):
    response = channels_client.post("/channels/telegram/webhook", content=b"{not json",
                                    headers={"X-Telegram-Bot-Api-Secret-Token": "standin_webhook-secret"})
    assert response.status_code == 400
    assert count(channels_client, InboundReceipt) == 0


def test_first_message_gets_the_disclosure_then_municipality_buttons_then_the_answer(channels_client, telegram_api):
    assert post_update(channels_client, telegram_message(502, "how do I find an apartment?")).status_code == 200
    first = telegram_api.wait_to(502, 3)
    assert texts(first[:2]) == [KB.message("disclosure", "en"), KB.message("privacy_line", "en", privacy_url=PRIVACY_URL)]
    assert first[2]["text"] == KB.message("ask_municipality", "en")
    assert choices(first[2]) == [f"municipality:{slug}" for slug in KB.municipalities]

    post_update(channels_client, telegram_button(502, "municipality:nyborg", "Nyborg"))
    answer = telegram_api.wait_to(502, 4)[3]
    entry = KB.policy_answers["nyborg"]["housing"]["en"]
    assert answer["text"].startswith(entry.get("web", entry["sms"]))
    assert "From: Nyborg Kommune" in answer["text"]  # the source, as on the web
    user = conversation_of(channels_client, 502)
    assert user.municipality == "nyborg" and user.channel == "telegram"


def test_start_asks_language_then_municipality_with_inline_buttons(channels_client, telegram_api):
    post_update(channels_client, telegram_message(503, "/start", language_code="da"))
    [prompt] = telegram_api.wait_to(503, 1)
    assert prompt["text"] == KB.message("telegram_choose_language", "da")  # the app's language as a first guess
    assert {"start:en", "start:da", "start:uk", "start:ar"} <= set(choices(prompt))

    post_update(channels_client, telegram_button(503, "start:da", "Dansk"))
    sent = telegram_api.wait_to(503, 5)
    assert texts(sent[1:]) == [
        KB.message("disclosure", "da"), KB.message("privacy_line", "da", privacy_url=PRIVACY_URL),
        KB.message("language_set", "da", language_name="Dansk"), KB.message("ask_municipality", "da")]
    assert choices(sent[4]) == [f"municipality:{slug}" for slug in KB.municipalities]
    post_update(channels_client, telegram_button(503, "municipality:faxe", "Faxe"))
    telegram_api.wait_to(503, 6)
    conversation = conversation_of(channels_client, 503)
    assert (conversation.language, conversation.language_chosen, conversation.municipality) == ("da", True, "faxe")

    post_update(channels_client, telegram_message(503, "/language"))
    assert "language:uk" in choices(telegram_api.wait_to(503, 7)[-1])
    post_update(channels_client, telegram_button(503, "language:en", "English"))
    assert telegram_api.wait_to(503, 8)[-1]["text"] == KB.message("language_set", "en", language_name="English")
    assert conversation_of(channels_client, 503).language == "en"


def test_topic_quick_replies_become_inline_keyboards_and_buttons_answer(channels_client, telegram_api):
    post_update(channels_client, telegram_message(504, "/municipality"))
    post_update(channels_client, telegram_button(504, "municipality:slagelse", "Slagelse"))
    post_update(channels_client, telegram_message(504, "hello"))
    greeting = wait_for_buttons(telegram_api, 504, "topic:danish_language")
    assert greeting["text"] == KB.message("greet", "en")
    topic_choices = choices(greeting)
    assert "topic:danish_language" in topic_choices and "handoff:request" in topic_choices
    before = len(telegram_api.to(504))
    post_update(channels_client, telegram_button(504, "topic:danish_language", "Learning Danish"))
    answer = telegram_api.wait_to(504, before + 1)[-1]
    assert answer["text"].startswith(KB.policy_answers["slagelse"]["danish_language"]["en"].get(
        "web", KB.policy_answers["slagelse"]["danish_language"]["en"]["sms"]))


def test_the_same_update_twice_and_concurrently_is_one_message_and_one_reply(channels_client, telegram_api):
    update = telegram_message(505, "hello there, how are you?")
    assert post_update(channels_client, update).status_code == 200
    assert post_update(channels_client, update).status_code == 200
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: post_update(channels_client, update).status_code, range(8)))
    assert statuses == [200] * 8
    settle(channels_client)
    time.sleep(0.5)
    settle(channels_client)
    conversation = conversation_of(channels_client, 505)
    assert count(channels_client, Message, Message.conversation_id == conversation.id, Message.role == "user") == 1
    replies = count(channels_client, Message, Message.conversation_id == conversation.id, Message.role == "assistant")
    assert replies >= 3  # disclosure, privacy line, the answer
    assert len(telegram_api.to(505)) == replies  # each sent once
    assert count(channels_client, InboundReceipt) == 1


def test_concurrent_first_messages_from_two_chats_do_not_mix(channels_client, telegram_api):
    updates = [telegram_message(chat, "hello there, how are you?") for chat in (506, 507) for _ in range(3)]
    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(lambda u: post_update(channels_client, u).status_code, updates)) == {200}
    settle(channels_client)
    for chat in (506, 507):
        conversation = conversation_of(channels_client, chat)
        assert count(channels_client, Message, Message.conversation_id == conversation.id, Message.role == "user") == 3
    assert count(channels_client, Conversation) == 2


def test_no_get_me_per_update(channels_client, telegram_api):
    for _ in range(3):
        post_update(channels_client, telegram_message(508, "hello"))
    settle(channels_client)
    assert telegram_api.calls.count("getMe") == 1
    assert telegram_api.webhook["url"] == "http://127.0.0.1:8000/channels/telegram/webhook"
    assert telegram_api.webhook["secret_token"] == "standin_webhook-secret"


def test_429_is_retried_after_retry_after_and_order_is_kept(channels_client, telegram_api):
    post_update(channels_client, telegram_message(509, "hello"))
    telegram_api.wait_to(509, 3)
    settle(channels_client)
    conversation = conversation_of(channels_client, 509)
    telegram_api.throttle(1, retry_after=2)
    throttled_at = time.monotonic()
    deliver_caseworker(channels_client, conversation, ["first", "second", "third"])
    sent = telegram_api.wait_to(509, 6, timeout_s=20)[3:]
    assert texts(sent) == ["first", "second", "third"]
    assert sent[0]["at"] - throttled_at >= 2.0  # waited as told, and nothing overtook the throttled one
    settle(channels_client)
    rows = client_rows(channels_client, conversation.id)[-3:]
    assert [(r.status, r.attempts) for r in rows] == [("sent", 2), ("sent", 1), ("sent", 1)]


def test_a_failure_is_recorded_for_the_console_after_bounded_retries(channels_client, telegram_api):
    post_update(channels_client, telegram_message(510, "hello"))
    telegram_api.wait_to(510, 3)
    settle(channels_client)
    conversation = conversation_of(channels_client, 510)
    telegram_api.fail_next(1, Failure(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}))
    deliver_caseworker(channels_client, conversation, ["are you there?", "second try"])
    assert texts(telegram_api.wait_to(510, 4)[3:]) == ["second try"]
    settle(channels_client)
    failed = client_rows(channels_client, conversation.id)[-2]
    assert failed.status == "failed" and "blocked" in failed.last_error


def test_long_replies_are_split_under_4096_utf16_units(channels_client, telegram_api):
    post_update(channels_client, telegram_message(511, "hello"))
    telegram_api.wait_to(511, 3)
    conversation = conversation_of(channels_client, 511)
    long_text = ("Velkommen 😀 til Danmark. " * 400).strip()  # emoji: two UTF-16 units each
    deliver_caseworker(channels_client, conversation, [long_text])
    parts = telegram_api.wait_to(511, 6)[3:]
    assert all(utf16_units(part["text"]) <= 4096 for part in parts)
    assert " ".join(texts(parts)).split() == long_text.split()


def test_split_text_prefers_boundaries_and_never_exceeds_the_limit():
    assert split_text("short") == ["short"]
    parts = split_text("word " * 2000)
    assert all(utf16_units(p) <= 4096 for p in parts) and all(p.endswith("word") for p in parts)
    emoji = split_text("😀" * 3000)  # no boundary at all: cut by units, never inside a pair
    assert [utf16_units(p) for p in emoji] == [4096, 1904] and "".join(emoji) == "😀" * 3000


def test_delete_erases_the_conversation_and_confirms(channels_client, telegram_api):
    post_update(channels_client, telegram_message(512, "hello"))
    telegram_api.wait_to(512, 3)
    conversation = conversation_of(channels_client, 512)
    post_update(channels_client, telegram_message(512, "/delete"))
    assert telegram_api.wait_to(512, 4)[-1]["text"] == KB.message("telegram_deleted", "en")
    assert count(channels_client, Conversation, Conversation.id == conversation.id) == 0
    assert count(channels_client, Message, Message.conversation_id == conversation.id) == 0
    assert count(channels_client, ChannelLink, ChannelLink.user_key == "512") == 0
    post_update(channels_client, telegram_message(512, "hello"))  # a new conversation, disclosed again
    assert telegram_api.wait_to(512, 7)[4]["text"] == KB.message("disclosure", "en")


def test_handoff_started_on_telegram_completes_a_caseworker_round_trip(channels_client, telegram_api):
    pipeline, console = channels_client.app.state.pipeline, channels_client.app.state.console
    post_update(channels_client, telegram_message(513, "/human"))
    consent = wait_for_buttons(telegram_api, 513, "consent:no")
    assert "consent:yes:faxe" in choices(consent)  # no municipality yet: consent names it
    post_update(channels_client, telegram_button(513, "consent:yes:faxe", "Yes: Faxe"))
    settle(channels_client)
    conversation = conversation_of(channels_client, 513)
    handoff = pipeline.handoffs.open_handoff(conversation.id)
    assert conversation.owner == "caseworker" and handoff is not None and handoff.channel == "telegram"

    caseworker = console_user(channels_client, "faxe")
    console.assign(caseworker, handoff, caseworker)
    before = len(telegram_api.to(513))
    reply = channels_client.portal.call(console.reply, caseworker, handoff, "Hej, jeg er din sagsbehandler.")
    assert telegram_api.wait_to(513, before + 1)[-1]["text"] == reply.text

    post_update(channels_client, telegram_message(513, "I need help with my rent"))
    settle(channels_client)
    assert len(telegram_api.to(513)) == before + 1  # the assistant stays quiet while a person has it
    assert [m.text for m in pipeline.messages(conversation.id)][-1] == "I need help with my rent"

    channels_client.portal.call(console.release, caseworker, handoff, "returned")
    assert telegram_api.wait_to(513, before + 2)[-1]["text"] == KB.message("handoff_returned", "en")
    post_update(channels_client, telegram_message(513, "hello"))
    telegram_api.wait_to(513, before + 3)  # the assistant answers again


def test_polling_mode_receives_and_answers_without_a_webhook(stack, tmp_path, monkeypatch, telegram_api, twilio_api):
    for name, value in channel_env(telegram_api, twilio_api).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VELKOMMEN_TELEGRAM_MODE", "polling")
    monkeypatch.delenv("VELKOMMEN_TELEGRAM_SECRET")
    with TestClient(create_app(gateway_settings(tmp_path, stack.rasa_url, stack.token))) as client:
        wait_until_ready(client)
        assert client.post("/channels/telegram/webhook", json={}).status_code == 404
        with telegram_api.lock:
            telegram_api.updates.append(telegram_message(514, "hello"))
        sent = telegram_api.wait_to(514, 3)
        assert sent[0]["text"] == KB.message("disclosure", "en")
    assert "setWebhook" not in telegram_api.calls and "getUpdates" in telegram_api.calls


# -- helpers ------------------------------------------------------------------------------------------

def client_rows(client: TestClient, conversation_id: str) -> list[OutboxItem]:
    return client.app.state.outbox.of_conversation(conversation_id)


def wait_for_buttons(telegram_api, chat_id: int, choice: str) -> dict:
    """The first message to the chat that offers the choice as an inline button."""
    def offered(entry: dict) -> bool:
        return entry["to"] == chat_id and bool(entry["reply_markup"]) and choice in choices(entry)
    return next(e for e in telegram_api.wait_for(lambda sent: any(map(offered, sent))) if offered(e))
