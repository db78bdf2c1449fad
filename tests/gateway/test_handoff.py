"""Handoff to a caseworker through the real pipeline (and the real Rasa where the trigger needs NLU):
every trigger asks consent (a crisis does not: urgent, top of the queue, after the 112 reply),
consent opens the handoff record, a caseworker-owned conversation never reaches the assistant,
and the waiting-time message is honest inside and outside office hours (clock injected)."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from actions.knowledge import Knowledge
from bot.handoff.desk import Handoff, OfficeHours, load_office_hours
from bot.settings import ROOT
from bot.store.models import Conversation
from tests.gateway.conftest import say, start

KB = Knowledge.load()
HERE = ZoneInfo("Europe/Copenhagen")
TUESDAY_10 = datetime(2025, 3, 4, 10, 0, tzinfo=HERE)


def handoffs(client, conversation: str) -> list[Handoff]:
    with client.app.state.pipeline.sessions() as session:
        return list(session.scalars(select(Handoff).where(Handoff.conversation_id == conversation)))


def stored(client, conversation: str) -> Conversation:
    with client.app.state.pipeline.sessions() as session:
        return session.get(Conversation, conversation)


def keys(turn: dict) -> list[str]:
    return [reply["text"] for reply in turn["replies"]]


def at(client, moment: datetime) -> None:
    client.app.state.pipeline.handoffs.clock = lambda: moment


def consent_buttons(turn: dict) -> list[str]:
    return [button["choice"] for button in turn["replies"][-1]["buttons"]]


# -- triggers ---------------------------------------------------------------------------------------

def test_asking_for_a_person_asks_consent_and_consent_opens_the_handoff_record(client):
    at(client, TUESDAY_10)
    conversation = start(client, "faxe")
    asked = say(client, conversation, "I want to talk to a real person")
    assert asked["handoff"] is True
    assert asked["replies"][-1]["text"] == KB.message("handoff_consent", "en", municipality="Faxe Kommune")
    assert consent_buttons(asked) == ["consent:yes", "consent:no"]
    assert handoffs(client, conversation) == [] and stored(client, conversation).owner == "assistant"

    consented = say(client, conversation, "Yes, share it", choice="consent:yes")
    assert keys(consented) == [
        KB.message("handoff_queued", "en", municipality="Faxe Kommune"),
        KB.message("handoff_wait_open", "en", closes="15:00"),
        KB.message("handoff_contact_time", "en"),
    ]
    assert consent_buttons(consented) == ["contact:morning", "contact:afternoon", "contact:any"]
    [record] = handoffs(client, conversation)
    assert (record.municipality, record.language, record.channel) == ("faxe", "en", "web")
    assert (record.reason, record.urgency, record.status, record.consent) == ("request", "normal", "waiting", "given")
    assert record.transcript_seq == consented["seq"]
    assert stored(client, conversation).owner == "caseworker" and stored(client, conversation).handoff is True

    noted = say(client, conversation, "Afternoon", choice="contact:afternoon")
    assert keys(noted) == [KB.message("handoff_contact_noted", "en", time=KB.message("contact_afternoon", "en"))]
    assert handoffs(client, conversation)[0].contact_time == "afternoon"


def test_the_button_asks_consent_and_no_keeps_the_assistant(client):
    conversation = start(client, "nyborg")
    asked = say(client, conversation, "Talk to a person", choice="handoff:request")
    assert consent_buttons(asked) == ["consent:yes", "consent:no"]
    declined = say(client, conversation, "No, thank you", choice="consent:no")
    assert keys(declined) == [KB.message("handoff_declined", "en")]
    assert handoffs(client, conversation) == []
    assert stored(client, conversation).handoff_pending is None and stored(client, conversation).handoff is False
    answered = say(client, conversation, "where can I learn danish?")
    assert answered["topic"] == "danish_language"


def test_slash_human_is_an_explicit_request(client):
    conversation = start(client, "faxe")
    turn = say(client, conversation, "/human")
    assert turn["handoff"] is True and consent_buttons(turn) == ["consent:yes", "consent:no"]


def test_yes_to_the_offer_after_two_misunderstandings_then_a_typed_yes_consents(client):
    conversation = start(client, "jammerbugt")
    say(client, conversation, "qwpo zxmn lkjh")
    offered = say(client, conversation, "brrm tkkk ppfz")
    assert offered["replies"][0]["text"] == KB.message("offer_handoff", "en")
    accepted = say(client, conversation, "", choice="answer:yes")
    assert accepted["replies"][-1]["text"] == KB.message("handoff_consent", "en", municipality="Jammerbugt Kommune")
    typed = say(client, conversation, "yes please")
    assert typed["replies"][0]["text"] == KB.message("handoff_queued", "en", municipality="Jammerbugt Kommune")
    assert KB.message("ok", "en") not in keys(typed)  # the assistant's bare acknowledgement is replaced
    [record] = handoffs(client, conversation)
    assert record.reason == "offer_accepted" and record.consent == "given"


def test_a_question_about_the_own_case_is_handed_over_after_consent_in_danish(client):
    at(client, TUESDAY_10)
    conversation = start(client, "slagelse")
    asked = say(client, conversation, "hvorfor er min ydelse blevet nedsat?")
    assert asked["replies"][0]["text"] == KB.message("personal_case", "da")
    assert asked["replies"][-1]["text"] == KB.message("handoff_consent", "da", municipality="Slagelse Kommune")
    consented = say(client, conversation, "", choice="consent:yes")
    assert consented["replies"][1]["text"] == KB.message("handoff_wait_open", "da", closes="15.00")
    [record] = handoffs(client, conversation)
    assert (record.reason, record.language, record.municipality) == ("personal_case", "da", "slagelse")


def test_without_a_municipality_the_consent_question_names_them_and_the_choice_routes(client):
    conversation = start(client)
    asked = say(client, conversation, "", choice="handoff:request")
    assert asked["replies"][-1]["text"] == KB.message("handoff_consent_municipality", "en")
    assert consent_buttons(asked) == [f"consent:yes:{slug}" for slug in KB.municipalities] + ["consent:no"]
    typed = say(client, conversation, "yes")  # a typed yes cannot say which municipality: asked again
    assert consent_buttons(typed)[0] == "consent:yes:faxe" and handoffs(client, conversation) == []
    say(client, conversation, "", choice="consent:yes:frederikshavn")
    [record] = handoffs(client, conversation)
    assert record.municipality == "frederikshavn" and stored(client, conversation).municipality == "frederikshavn"


def test_unknown_flow_choices_are_refused(client_without_rasa):
    conversation = start(client_without_rasa, "faxe")
    for choice in ("consent:maybe", "consent:yes:aarhus", "consent:no:faxe", "contact:midnight"):
        response = client_without_rasa.post(f"/api/conversations/{conversation}/messages", json={"choice": choice})
        assert response.status_code == 422, choice


# -- crisis -----------------------------------------------------------------------------------------

def test_crisis_is_an_urgent_handoff_after_the_112_reply_at_the_top_of_the_queue(client_without_rasa):
    client = client_without_rasa  # the assistant is down: neither 112 nor the handoff needs it
    at(client, TUESDAY_10)
    earlier = start(client, "faxe")
    say(client, earlier, "", choice="consent:yes")
    conversation = start(client, "faxe")
    turn = say(client, conversation, "my husband hits me and I am scared")
    assert turn["crisis"] is True
    assert turn["replies"][0]["text"] == KB.message("crisis_violence", "en")
    assert turn["replies"][1]["text"] == KB.message("handoff_urgent", "en", municipality="Faxe Kommune")
    assert not any(reply["buttons"] for reply in turn["replies"])  # no consent question in a crisis
    [record] = handoffs(client, conversation)
    assert (record.reason, record.urgency, record.consent) == ("crisis", "urgent", "vital_interest")
    queue = client.app.state.console.queue("faxe")
    assert [item.handoff.conversation_id for item in queue] == [conversation, earlier]


def test_a_crisis_in_a_handed_over_conversation_raises_it_to_urgent(client_without_rasa):
    client = client_without_rasa
    conversation = start(client, "nyborg")
    say(client, conversation, "", choice="consent:yes")
    turn = say(client, conversation, "i want to die")
    assert turn["replies"][0]["text"] == KB.message("crisis_suicide", "en")
    [record] = handoffs(client, conversation)
    assert record.urgency == "urgent" and record.reason == "request"


def test_crisis_outside_hours_adds_the_crisis_numbers(client_without_rasa):
    client = client_without_rasa
    at(client, datetime(2025, 3, 4, 22, 30, tzinfo=HERE))
    conversation = start(client, "slagelse")
    turn = say(client, conversation, "fire in the kitchen smoke everywhere kids still inside")
    texts = keys(turn)
    assert texts[0] == KB.message("crisis_danger", "en")
    assert texts[-2:] == [
        KB.message("handoff_wait_closed", "en", when="tomorrow from 09:00"),
        KB.message("handoff_crisis_numbers", "en"),
    ]


# -- a caseworker owns the conversation --------------------------------------------------------------

def test_while_a_caseworker_owns_the_conversation_messages_go_to_the_console_not_the_assistant(client):
    published: list[tuple[str, dict]] = []
    bus = client.app.state.events
    original = bus.publish
    bus.publish = lambda topic, event: (published.append((topic, event)), original(topic, event))
    conversation = start(client, "faxe")
    say(client, conversation, "", choice="consent:yes")
    assert ("console:faxe", {"type": "handoff", "conversation": conversation}) in published

    turn = say(client, conversation, "where can I learn danish?")
    assert turn["replies"] == [] and turn["topic"] == "handoff"
    user = client.app.state.pipeline.messages(conversation)[-1]
    assert user.role == "user" and user.intent is None  # never reached the assistant's NLU
    assert ("console:faxe", {"type": "message", "conversation": conversation, "seq": turn["seq"]}) in published
    button = say(client, conversation, "School", choice="topic:school")
    assert keys(button) == [KB.message("handoff_already", "en")]

    [record] = handoffs(client, conversation)
    client.app.state.pipeline.handoffs.release(record.id, "returned")
    answered = say(client, conversation, "where can I learn danish?")
    assert answered["topic"] == "danish_language" and answered["replies"][0]["sources"]


# -- honest waiting times ---------------------------------------------------------------------------

@pytest.mark.parametrize("moment, language, expected", [
    (datetime(2025, 3, 4, 10, 0, tzinfo=HERE), "en", ("handoff_wait_open", {"closes": "15:00"})),
    (datetime(2025, 3, 7, 12, 59, tzinfo=HERE), "da", ("handoff_wait_open", {"closes": "13.00"})),
    (datetime(2025, 3, 4, 7, 30, tzinfo=HERE), "en", ("handoff_wait_closed", {"when": "today from 09:00"})),
    (datetime(2025, 3, 4, 15, 0, tzinfo=HERE), "en", ("handoff_wait_closed", {"when": "tomorrow from 09:00"})),
    (datetime(2025, 3, 7, 13, 0, tzinfo=HERE), "en", ("handoff_wait_closed", {"when": "on Monday from 09:00"})),
    (datetime(2025, 3, 8, 11, 0, tzinfo=HERE), "da", ("handoff_wait_closed", {"when": "på mandag fra kl. 09.00"})),
    (datetime(2025, 3, 30, 8, 30, tzinfo=ZoneInfo("UTC")), "en", ("handoff_wait_closed", {"when": "tomorrow from 09:00"})),
])
def test_office_hours_message_inside_and_outside_hours(client_without_rasa, moment, language, expected):
    at(client_without_rasa, moment)
    conversation = client_without_rasa.post("/api/conversations", json={"municipality": "faxe", "language": language}).json()["id"]
    turn = say(client_without_rasa, conversation, "", choice="consent:yes")
    key, values = expected
    assert turn["replies"][1]["text"] == KB.message(key, language, **values)


def test_the_expected_wait_is_said_only_when_configured_and_unknown_hours_promise_nothing(client_without_rasa):
    client = client_without_rasa
    desk = client.app.state.pipeline.handoffs
    at(client, TUESDAY_10)
    desk.office_hours["faxe"] = dataclasses.replace(desk.office_hours["faxe"], expected_wait_minutes=20)
    desk.office_hours["nyborg"] = dataclasses.replace(desk.office_hours["nyborg"], weekly=None)
    faxe, nyborg, slagelse = start(client, "faxe"), start(client, "nyborg"), start(client, "slagelse")
    assert keys(say(client, faxe, "", choice="consent:yes"))[1] == KB.message("handoff_wait_expected", "en", minutes="20")
    assert keys(say(client, nyborg, "", choice="consent:yes"))[1] == KB.message("handoff_wait_unknown", "en")
    assert keys(say(client, slagelse, "", choice="consent:yes"))[1] == KB.message("handoff_wait_open", "en", closes="15:00")


def test_office_hours_configuration_is_complete_and_marked_unverified():
    import yaml

    config = yaml.safe_load((ROOT / "config/office_hours.yml").read_text(encoding="utf-8"))
    assert set(config["municipalities"]) == set(KB.municipalities)
    assert all(spec["verified"] is False for spec in config["municipalities"].values())
    assert set(load_office_hours(ROOT / "config/office_hours.yml")) == set(KB.municipalities)


HOURS: OfficeHours = load_office_hours(ROOT / "config/office_hours.yml")["faxe"]


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(ZoneInfo("UTC"))))
def test_at_any_moment_the_desk_is_open_or_names_the_next_opening(moment):
    until = HOURS.open_until(moment)
    if until is not None:
        assert moment.astimezone(HOURS.zone).weekday() < 5 and timedelta(0) < until - moment <= timedelta(hours=6)
        return
    opening = HOURS.next_opening(moment)
    assert timedelta(0) < opening - moment < timedelta(days=3)  # Friday 13:00 to Monday 09:00 is the longest
    assert HOURS.open_until(opening) is not None
    local = opening.astimezone(HOURS.zone)
    assert local.weekday() < 5 and (local.hour, local.minute) == (9, 0)
