"""SMS through the real twilio SDK (signatures built with its RequestValidator, replies sent with
its REST client against a stand-in on 127.0.0.1), the real pipeline and Rasa: forged requests,
MessageSid de-duplication, STOP/START/HELP, segment budgets with MORE, retries, pseudonymous keys,
and a caseworker round trip."""
from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import text

from actions.knowledge import Knowledge
from bot.app import create_app
from bot.channels.inbox import InboundReceipt
from bot.channels.links import ChannelLink
from bot.channels.sms import SmsOptOut
from bot.channels.sms_text import UCS2, Cut, cut, encoding, gsm7_when_possible, segment_count
from bot.settings import ROOT, Settings
from bot.store.models import Conversation, Message
from tests.gateway.channel_standins import (  # noqa: F401 — fixtures
    PUBLIC_URL, SMS_PATH, Failure, channel_env, channels_client, console_user, count, deliver_caseworker, post_sms,
    settle, sms_params, telegram_api, twilio_api, twilio_signature, wait_until_ready,
)
from tests.gateway.test_sms_text import ARABIC_400

KB = Knowledge.load()
PRIVACY_URL = "http://127.0.0.1:8000/privacy"


def sms(client: TestClient, number: str, body: str, sid: str | None = None) -> None:
    response = post_sms(client, sms_params(number, body, sid))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Message" not in response.text  # the reply never rides on the webhook's answer


def conversation_of(client: TestClient, number: str) -> Conversation:
    sms_channel = client.app.state.channels.sms
    with client.app.state.pipeline.sessions() as session:
        link = session.get(ChannelLink, ("sms", sms_channel.key(number)))
        return session.get(Conversation, link.conversation_id)


def bodies(sent: list[dict]) -> list[str]:
    return [entry["body"] for entry in sent]


def test_forged_signatures_are_refused_and_nothing_is_stored(channels_client, twilio_api):
    params = sms_params("+4520000001", "where can I learn Danish?")
    wrong_url = twilio_signature(params, url="https://attacker.example" + SMS_PATH)
    assert post_sms(channels_client, params, signature=wrong_url).status_code == 403
    altered = dict(params, Body="send me everything")
    assert post_sms(channels_client, altered, signature=twilio_signature(params)).status_code == 403
    other_token = twilio_signature(params, token="someone-elses-token")
    assert post_sms(channels_client, params, signature=other_token).status_code == 403
    assert channels_client.post(SMS_PATH, data=params).status_code == 403  # no signature at all
    time.sleep(0.5)
    assert count(channels_client, InboundReceipt) == 0 and count(channels_client, Conversation) == 0
    assert twilio_api.sent == []


def test_first_contact_gets_the_disclosure_in_one_sms_then_an_answer(channels_client, twilio_api):
    sms(channels_client, "+4520000002", "how do I find an apartment?")
    [first] = twilio_api.wait_to("+4520000002", 1)
    expected = "\n\n".join([KB.message("disclosure", "en"), KB.message("privacy_line", "en", privacy_url=PRIVACY_URL),
                            KB.message("ask_municipality", "en")])
    assert first["body"] == gsm7_when_possible(expected) and first["from"] == "+4512345678"
    sms(channels_client, "+4520000002", "Nyborg")
    answer = twilio_api.wait_to("+4520000002", 2)[1]["body"]
    assert answer == gsm7_when_possible(KB.policy_answers["nyborg"]["housing"]["en"]["sms"])  # the short rendering


def test_the_same_message_sid_twice_and_concurrently_is_one_message_and_one_reply(channels_client, twilio_api):
    params = sms_params("+4520000003", "hello there, how are you?")
    assert post_sms(channels_client, params).status_code == 200
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: post_sms(channels_client, params).status_code, range(8))) == {200}
    twilio_api.wait_to("+4520000003", 1)
    settle(channels_client)
    time.sleep(0.5)
    conversation = conversation_of(channels_client, "+4520000003")
    assert count(channels_client, Message, Message.conversation_id == conversation.id, Message.role == "user") == 1
    assert len(twilio_api.to("+4520000003")) == 1


def test_stop_then_a_message_sends_nothing_and_start_resumes(channels_client, twilio_api):
    number = "+4520000004"
    sms(channels_client, number, "hello")
    twilio_api.wait_to(number, 1)
    sms(channels_client, number, "stop")
    assert bodies(twilio_api.wait_to(number, 2))[-1] == KB.message("sms_stopped", "en")  # the one confirmation
    sms(channels_client, number, "where can I learn Danish?")
    settle(channels_client)
    conversation = conversation_of(channels_client, number)
    deliver_caseworker(channels_client, conversation, ["a caseworker writes after STOP"])
    settle(channels_client)
    time.sleep(1)
    assert len(twilio_api.to(number)) == 2  # neither the answer nor the caseworker reached the number
    rows = channels_client.app.state.outbox.of_conversation(conversation.id)
    assert [r.status for r in rows[-2:]] == ["suppressed", "suppressed"]  # recorded for the console
    assert count(channels_client, Message, Message.conversation_id == conversation.id, Message.role == "user") == 2

    sms(channels_client, number, "START")
    assert bodies(twilio_api.wait_to(number, 3))[-1] == KB.message("sms_started", "en")
    sms(channels_client, number, "hello")
    twilio_api.wait_to(number, 4)
    assert count(channels_client, SmsOptOut) == 0


def test_danish_keywords_are_honoured_in_danish(channels_client, twilio_api):
    sms(channels_client, "+4520000005", "HJÆLP")
    expected = [KB.message("disclosure", "da"), KB.message("privacy_line", "da", privacy_url=PRIVACY_URL),
                KB.message("sms_help", "da")]
    assert bodies(twilio_api.wait_to("+4520000005", 1)) == [gsm7_when_possible("\n\n".join(expected))]
    for word in ("STOPP", "afmeld!"):
        number = f"+45200000{6 if word == 'STOPP' else 7}"
        sms(channels_client, number, word)
        assert bodies(twilio_api.wait_to(number, 1))[-1].endswith(KB.message("sms_stopped", "da"))
        assert channels_client.app.state.channels.sms.opted_out(channels_client.app.state.channels.sms.key(number))


def test_opt_out_outlives_the_conversation_and_is_kept_by_pseudonym(channels_client, twilio_api):
    number = "+4520000008"
    sms(channels_client, number, "hello")
    twilio_api.wait_to(number, 1)
    sms(channels_client, number, "STOP")
    twilio_api.wait_to(number, 2)
    settle(channels_client)
    pipeline = channels_client.app.state.pipeline
    channels_client.portal.call(pipeline.erase, conversation_of(channels_client, number).id)
    sms(channels_client, number, "hello again")
    settle(channels_client)
    time.sleep(1)
    assert len(twilio_api.to(number)) == 2
    assert dump_database(channels_client).count(number.removeprefix("+")) == 1  # only in the new conversation's link


def test_numbers_are_stored_only_where_replies_need_them(channels_client, twilio_api):
    number = "+4520000009"
    sms(channels_client, number, "where can I learn Danish?")
    twilio_api.wait_to(number, 1)
    settle(channels_client)
    dump = dump_database(channels_client)
    assert dump.count("4520000009") == 1  # channel_links.address, to send to; nowhere else
    key = channels_client.app.state.channels.sms.key(number)
    assert len(key) == 64 and "4520000009" not in key and key in dump


def test_an_arabic_reply_of_400_characters_is_continued_with_more(channels_client, twilio_api):
    number = "+4520000010"
    sms(channels_client, number, "hello")
    twilio_api.wait_to(number, 1)
    conversation = conversation_of(channels_client, number)
    deliver_caseworker(channels_client, conversation, [ARABIC_400])
    first = bodies(twilio_api.wait_to(number, 2))[-1]
    continuation = KB.message("sms_more", conversation.language or "en")
    assert encoding(first) == UCS2 and segment_count(first) == 4 and first.endswith(continuation)
    sms(channels_client, number, "MORE")
    rest = bodies(twilio_api.wait_to(number, 3))[-1]
    assert cut(ARABIC_400, 4, continuation) == Cut(first, rest)
    assert segment_count(rest) == 3 and (first.removesuffix(continuation) + " " + rest).split() == ARABIC_400.split()
    assert count(channels_client, Message, Message.conversation_id == conversation.id, Message.text == "MORE") == 0


def test_an_arabic_reply_of_400_characters_is_six_ucs2_segments_when_the_budget_allows(
        stack, tmp_path, monkeypatch, telegram_api, twilio_api):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    channels = yaml.safe_load((config / "channels.yml").read_text())
    channels["sms"]["max_segments"] = 6
    (config / "channels.yml").write_text(yaml.safe_dump(channels, allow_unicode=True))
    for name, value in channel_env(telegram_api, twilio_api).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VELKOMMEN_RASA_TOKEN", stack.token)
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'g.db'}", rasa_url=stack.rasa_url,
                        rasa_token=stack.token, config_dir=config)
    with TestClient(create_app(settings)) as client:
        wait_until_ready(client)
        sms(client, "+4520000011", "hello")
        twilio_api.wait_to("+4520000011", 1)
        deliver_caseworker(client, conversation_of(client, "+4520000011"), [ARABIC_400])
        body = bodies(twilio_api.wait_to("+4520000011", 2))[-1]
    assert body == ARABIC_400 and encoding(body) == UCS2 and segment_count(body) == 6


def test_twilio_errors_are_retried_then_recorded(channels_client, twilio_api):
    number = "+4520000012"
    twilio_api.fail_next(2, Failure(500, {"code": 20500, "message": "Internal Server Error", "status": 500}))
    sms(channels_client, number, "hello")
    assert len(twilio_api.wait_to(number, 1, timeout_s=20)) == 1  # after two retries
    settle(channels_client)
    conversation = conversation_of(channels_client, number)
    assert channels_client.app.state.outbox.of_conversation(conversation.id)[0].attempts == 3
    twilio_api.fail_next(1, Failure(400, {"code": 21211, "message": "The 'To' number is not valid", "status": 400}))
    deliver_caseworker(channels_client, conversation, ["one", "two"])
    assert bodies(twilio_api.wait_to(number, 2))[-1] == "two"
    settle(channels_client)
    failed = channels_client.app.state.outbox.of_conversation(conversation.id)[-2]
    assert failed.status == "failed" and "21211" in failed.last_error


def test_handoff_started_on_sms_completes_a_caseworker_round_trip(channels_client, twilio_api):
    number = "+4520000013"
    pipeline, console = channels_client.app.state.pipeline, channels_client.app.state.console
    sms(channels_client, number, "I live in Faxe")
    twilio_api.wait_to(number, 1)
    sms(channels_client, number, "I want to talk to a caseworker")
    consent = bodies(twilio_api.wait_to(number, 2))[-1]
    assert gsm7_when_possible(KB.message("handoff_consent", "en", municipality=KB.municipality_name("faxe"))) in consent
    sms(channels_client, number, "yes")  # no buttons on SMS: consent is typed
    twilio_api.wait_to(number, 3)
    settle(channels_client)
    conversation = conversation_of(channels_client, number)
    handoff = pipeline.handoffs.open_handoff(conversation.id)
    assert conversation.owner == "caseworker" and handoff is not None and handoff.channel == "sms"

    caseworker = console_user(channels_client, "faxe")
    console.assign(caseworker, handoff, caseworker)
    reply = channels_client.portal.call(console.reply, caseworker, handoff, "Hej, det er din sagsbehandler fra Faxe.")
    assert bodies(twilio_api.wait_to(number, 4))[-1] == gsm7_when_possible(reply.text)
    sms(channels_client, number, "Thank you, I need help with my rent")
    settle(channels_client)
    assert len(twilio_api.to(number)) == 4  # the caseworker answers, not the assistant
    assert [m.text for m in pipeline.messages(conversation.id)][-1] == "Thank you, I need help with my rent"

    channels_client.portal.call(console.release, caseworker, handoff, "returned")
    assert bodies(twilio_api.wait_to(number, 5))[-1] == gsm7_when_possible(KB.message("handoff_returned", "en"))


def dump_database(client: TestClient) -> str:
    """Every value in every table, as text (to look for phone numbers)."""
    with client.app.state.pipeline.sessions() as session:
        tables = [row[0] for row in session.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))]
        return "\n".join(str(tuple(row)) for table in tables for row in session.execute(text(f'SELECT * FROM "{table}"')))


def test_the_webhook_url_is_the_configured_public_one(channels_client):
    params = sms_params("+4520000014", "hi")
    signed_for_testserver = twilio_signature(params, url="http://testserver" + SMS_PATH)
    assert post_sms(channels_client, params, signature=signed_for_testserver).status_code == 403
    assert post_sms(channels_client, params, signature=twilio_signature(params, url=PUBLIC_URL + SMS_PATH)).status_code == 200
    assert count(channels_client, InboundReceipt, InboundReceipt.channel == "sms") == 1


def test_channels_without_credentials_are_off_and_say_why(client):
    assert client.post(SMS_PATH, data={"Body": "hi"}).status_code == 404
    assert client.post("/channels/telegram/webhook", json={"update_id": 1}).status_code == 404
    telegram_line, sms_line = client.app.state.channels.describe()
    assert telegram_line.startswith("telegram off (no VELKOMMEN_TELEGRAM_TOKEN")
    assert sms_line.split() == ["sms", "off", "(no", "VELKOMMEN_TWILIO_ACCOUNT_SID,", "VELKOMMEN_TWILIO_AUTH_TOKEN,",
                                "VELKOMMEN_TWILIO_FROM,", "VELKOMMEN_SMS_KEY_SECRET)"]
