"""Each action against a JSON tracker fixture, asserting the exact reply payload and events."""
from __future__ import annotations

import asyncio

import pytest
from rasa_sdk.events import SlotSet

from actions.answer_topic import ActionAnswerTopic
from actions.fallback import ActionRephrase
from actions.handoff import ActionAnswerYesNo, ActionHandoff
from actions.municipality import ActionSetMunicipality
from actions.smalltalk import ActionReplySmalltalk

def run(action, dispatcher, tracker):
    return asyncio.run(action.run(dispatcher, tracker, {}))


ANSWERED = [SlotSet("pending_topic", None), SlotSet("fallback_count", 0.0), SlotSet("handoff_offered", False)]
UNSETTLED = {"pending_topic": "school", "fallback_count": 1.0, "handoff_offered": True}  # what ANSWERED resets


def payload(key, topic, language, text, web_text=None, sources=(), buttons=(), handoff=False, national=False):
    return {"json_message": {
        "key": key, "topic": topic, "language": language, "text": text, "web_text": web_text or text,
        "sources": list(sources), "buttons": list(buttons), "handoff": handoff, "national_fallback": national,
    }}


def policy_payload(kb, municipality, topic, language):
    entry = kb.policy_answers[municipality][topic]
    document = kb.municipalities[municipality]["document"]
    return payload(
        f"answer.{municipality}.{topic}", topic, language, entry[language]["sms"],
        entry[language].get("web") or entry[language]["sms"],
        [{"municipality": municipality, "document": document, "section": section}
         for section in dict.fromkeys(s["section"] for s in entry["sources"])],
    )


def messages(dispatcher):
    return [{"json_message": m["custom"]} for m in dispatcher.messages]


def some_policy_topic(kb, municipality="slagelse"):
    return sorted(kb.policy_answers[municipality])[0]


def some_silent_pair(kb):
    for slug in kb.municipalities:
        for topic in kb.topics:
            if topic not in kb.policy_answers[slug]:
                return slug, topic
    pytest.skip("every municipality covers every topic")


def test_answers_a_topic_for_the_remembered_municipality(kb, dispatcher, make_tracker):
    topic = some_policy_topic(kb)
    tracker = make_tracker(kb.topics[topic]["intent"], {"municipality": "slagelse", **UNSETTLED})
    events = run(ActionAnswerTopic(), dispatcher, tracker)
    assert messages(dispatcher) == [policy_payload(kb, "slagelse", topic, "en")]
    assert events == ANSWERED


def test_slots_already_holding_their_value_are_not_set_again(kb, dispatcher, make_tracker):
    topic = some_policy_topic(kb)
    events = run(ActionAnswerTopic(), dispatcher, make_tracker(kb.topics[topic]["intent"], {"municipality": "slagelse"}))
    assert messages(dispatcher) == [policy_payload(kb, "slagelse", topic, "en")]
    assert events == []


def test_answers_in_danish_when_the_gateway_says_danish(kb, dispatcher, make_tracker):
    topic = some_policy_topic(kb, "faxe")
    tracker = make_tracker(kb.topics[topic]["intent"], {"municipality": "faxe"}, language="da")
    run(ActionAnswerTopic(), dispatcher, tracker)
    assert messages(dispatcher) == [policy_payload(kb, "faxe", topic, "da")]


def test_uses_the_municipality_the_channel_gave(kb, dispatcher, make_tracker):
    topic = some_policy_topic(kb, "nyborg")
    tracker = make_tracker(kb.topics[topic]["intent"], municipality="nyborg")
    events = run(ActionAnswerTopic(), dispatcher, tracker)
    assert messages(dispatcher) == [policy_payload(kb, "nyborg", topic, "en")]
    assert events == [SlotSet("municipality", "nyborg")]


def test_asks_for_the_municipality_once_and_keeps_the_question(kb, dispatcher, make_tracker):
    tracker = make_tracker("ask_danish_language")
    events = run(ActionAnswerTopic(), dispatcher, tracker)
    buttons = [{"title": place["name"], "choice": f"municipality:{slug}"} for slug, place in kb.municipalities.items()]
    assert messages(dispatcher) == [payload("ask_municipality", "danish_language", "en",
                                            "Which municipality do you live in?", buttons=buttons)]
    assert events == [SlotSet("pending_topic", "danish_language")]


def test_national_fallback_is_marked_and_names_the_municipality(kb, dispatcher, make_tracker):
    slug, topic = some_silent_pair(kb)
    tracker = make_tracker(kb.topics[topic]["intent"], {"municipality": slug})
    run(ActionAnswerTopic(), dispatcher, tracker)
    place = kb.municipalities[slug]
    entry = kb.national_answers[topic]["en"]
    expected_text = entry["sms"].format(municipality=place["name"], region=place["region"])
    [sent] = messages(dispatcher)
    assert sent["json_message"]["national_fallback"] is True
    assert sent["json_message"]["text"] == expected_text
    assert sent["json_message"]["sources"] == [
        {"municipality": "national", "document": "Velkommen – general national information", "section": kb.topics[topic]["en"]}]


def test_named_municipality_answers_the_pending_question(kb, dispatcher, make_tracker):
    topic = some_policy_topic(kb, "jammerbugt")
    tracker = make_tracker("inform_municipality", {**UNSETTLED, "municipality": "jammerbugt", "pending_topic": topic})
    events = run(ActionSetMunicipality(), dispatcher, tracker)
    assert messages(dispatcher) == [policy_payload(kb, "jammerbugt", topic, "en")]
    assert events == ANSWERED


def test_named_municipality_without_a_question_is_confirmed(kb, dispatcher, make_tracker):
    tracker = make_tracker("inform_municipality", {"municipality": "frederikshavn", "fallback_count": 1.0}, language="da")
    events = run(ActionSetMunicipality(), dispatcher, tracker)
    assert messages(dispatcher) == [payload("municipality_set", "smalltalk", "da",
                                            "Tak. Jeg svarer for Frederikshavn Kommune. Hvad vil du gerne vide?")]
    assert events == [SlotSet("fallback_count", 0.0)]


def test_unknown_municipality_is_asked_again(kb, dispatcher, make_tracker):
    tracker = make_tracker("inform_municipality", {"municipality": None})
    events = run(ActionSetMunicipality(), dispatcher, tracker)
    [sent] = messages(dispatcher)
    assert sent["json_message"]["key"] == "municipality_unknown"
    assert len(sent["json_message"]["buttons"]) == 5
    assert events == []


def test_first_misunderstanding_asks_to_rephrase(kb, dispatcher, make_tracker):
    events = run(ActionRephrase(), dispatcher, make_tracker("nlu_fallback"))
    assert messages(dispatcher) == [payload("rephrase", "out_of_scope", "en", kb.message("rephrase", "en"))]
    assert events == [SlotSet("fallback_count", 1.0)]


def test_second_misunderstanding_offers_a_caseworker(kb, dispatcher, make_tracker):
    events = run(ActionRephrase(), dispatcher, make_tracker("nlu_fallback", {"fallback_count": 1.0}))
    yes_no = [{"title": "Yes", "choice": "answer:yes"}, {"title": "No", "choice": "answer:no"}]
    assert messages(dispatcher) == [payload("offer_handoff", "out_of_scope", "en",
                                            kb.message("offer_handoff", "en"), buttons=yes_no)]
    assert events == [SlotSet("fallback_count", 0.0), SlotSet("handoff_offered", True)]


HANDED_OFF = [SlotSet("handoff", True), SlotSet("handoff_offered", False), SlotSet("fallback_count", 0.0)]
OFFERED = {"handoff_offered": True, "fallback_count": 1.0}


def test_yes_to_the_offer_hands_off(kb, dispatcher, make_tracker):
    events = run(ActionAnswerYesNo(), dispatcher, make_tracker("affirm", OFFERED))
    assert messages(dispatcher) == [payload("handoff_requested", "handoff", "en",
                                            kb.message("handoff_requested", "en"), handoff=True)]
    assert events == HANDED_OFF


def test_no_to_the_offer_declines(kb, dispatcher, make_tracker):
    events = run(ActionAnswerYesNo(), dispatcher, make_tracker("deny", OFFERED))
    assert messages(dispatcher) == [payload("handoff_declined", "smalltalk", "en", kb.message("handoff_declined", "en"))]
    assert events == [SlotSet("handoff_offered", False), SlotSet("fallback_count", 0.0)]


def test_yes_without_an_offer_is_just_ok(kb, dispatcher, make_tracker):
    events = run(ActionAnswerYesNo(), dispatcher, make_tracker("affirm"))
    assert messages(dispatcher) == [payload("ok", "smalltalk", "en", kb.message("ok", "en"))]
    assert events == []


@pytest.mark.parametrize("intent,key", [("request_human", "handoff_requested"), ("personal_case", "personal_case")])
def test_handoff_intents(kb, dispatcher, make_tracker, intent, key):
    events = run(ActionHandoff(), dispatcher, make_tracker(intent, language="da"))
    assert messages(dispatcher) == [payload(key, "handoff", "da", kb.message(key, "da"), handoff=True)]
    assert events == [SlotSet("handoff", True)]


def test_greeting_offers_the_topic_menu(kb, dispatcher, make_tracker):
    events = run(ActionReplySmalltalk(), dispatcher, make_tracker("greet", {"fallback_count": 1.0}))
    menu = [{"title": kb.topics[t]["en"], "choice": f"topic:{t}"} for t in kb.menu]
    menu.append({"title": "Talk to a person", "choice": "handoff:request"})
    assert messages(dispatcher) == [payload("greet", "smalltalk", "en", kb.message("greet", "en"), buttons=menu)]
    assert events == [SlotSet("fallback_count", 0.0)]


def test_crisis_understood_by_nlu_gets_112_first_and_a_caseworker(kb, dispatcher, make_tracker):
    from actions.crisis import ActionReportCrisis

    events = run(ActionReportCrisis(), dispatcher, make_tracker("report_crisis", language="da"))
    text = kb.message("crisis_general", "da")
    assert text.startswith("Hvis du eller en anden er i fare lige nu, så ring 112")
    assert messages(dispatcher) == [payload("crisis_general", "crisis", "da", text, handoff=True)]
    assert events == []
