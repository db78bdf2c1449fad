"""The web chat widget in real headless Chromium, against a real gateway and Rasa: keyboard use,
sources, reloads, right-to-left layout, narrow and zoomed windows, replies pushed by server-sent
events (and polled without them), deleting, cross-origin embedding, and axe-core's WCAG 2.1 A/AA
rules. Screenshots go to tests/browser/screenshots/ (git ignores them)."""
from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from actions.knowledge import Knowledge
from tests.browser.conftest import (
    SCREENSHOTS, bubbles, shadow_focus, stored_conversation, tab_to, ui_strings, wait_for_bubbles,
)

KB = Knowledge.load()
EN, AR = ui_strings("en"), ui_strings("ar")
AXE_WCAG21_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def open_demo(page: Page, gateway, municipality: str = "faxe") -> None:
    page.goto(f"{gateway.url}/demo/{municipality}")
    page.locator(".vk-launcher").wait_for()


def open_chat(page: Page) -> list[dict]:
    page.locator(".vk-launcher").click()
    return wait_for_bubbles(page, 2)


def settled(page: Page, count: int) -> list[dict]:
    """The messages once at least `count` are shown and nothing is being sent any more."""
    page.wait_for_function("""n => {
        const root = document.querySelector('[data-velkommen-chat]').shadowRoot;
        return root.querySelectorAll('.vk-msg').length >= n && !root.querySelector('.vk-typing').textContent;
    }""", arg=count)
    return bubbles(page)


def ask(page: Page, text: str) -> list[dict]:
    before = len(bubbles(page))
    page.locator("#vk-input").fill(text)
    page.locator("#vk-input").press("Enter")
    return settled(page, before + 2)


def stored_messages(gateway, conversation: str) -> list[dict]:
    with gateway.api() as api:
        return api.get(f"/api/conversations/{conversation}/messages").json()["messages"]


def assert_accessible(page: Page, state: str) -> None:
    results = Axe().run(page, options=AXE_WCAG21_A_AA).response
    problems = [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]} {v['nodes'][0]['failureSummary']}"
                for v in results["violations"]]
    assert not problems, f"axe-core, {state}:\n" + "\n".join(problems)
    assert results["passes"], "axe-core checked nothing"


def test_question_asked_by_keyboard_is_answered_with_its_source_and_survives_a_reload(page, gateway):
    open_demo(page, gateway)
    launcher = tab_to(page, lambda focused: "vk-launcher" in focused["className"])
    assert launcher["outlineStyle"] != "none" and launcher["outlineWidth"] >= 2  # focus is visible
    page.keyboard.press("Enter")
    assert shadow_focus(page)["id"] == "vk-input"
    first = wait_for_bubbles(page, 2)
    assert first[0]["text"] == KB.message("disclosure", "en")
    assert first[1]["links"] == [f"{gateway.url}/privacy"]  # the privacy line links the full notice

    page.evaluate("""() => {
        const line = document.querySelector('[data-velkommen-chat]').shadowRoot.querySelector('.vk-typing');
        window.typingShown = [];
        new MutationObserver(() => window.typingShown.push(line.textContent))
            .observe(line, {childList: true, characterData: true, subtree: true});
    }""")
    page.keyboard.type("where can I learn Danish?")
    page.keyboard.press("Enter")
    shown = settled(page, 4)
    conversation = stored_conversation(page, "faxe")
    stored = stored_messages(gateway, conversation)
    assert [b["text"] for b in shown] == [m["text"] for m in stored]
    assert shown[2]["role"] == "user" and shown[2]["text"] == "where can I learn Danish?"
    answer = stored[3]
    assert answer["topic"] == "danish_language"
    assert shown[3]["sources"] == list(dict.fromkeys(source["label"] for source in answer["sources"]))
    assert shown[3]["sources"][0].startswith("From: Faxe Kommune")
    assert shown[3]["sourceLinks"] == 0  # no URL known for the policy: a label, not a link
    assert EN["typing"] in page.evaluate("window.typingShown")
    tab_to(page, lambda focused: "vk-log" in focused["className"], key="Shift+Tab")  # scroll it by keyboard
    page.keyboard.press("End")
    page.wait_for_function("() => { const log = document.querySelector('[data-velkommen-chat]').shadowRoot"
                           ".querySelector('.vk-log'); return log.scrollTop + log.clientHeight >= log.scrollHeight - 2; }")
    screenshot(page, "widget-en")

    page.reload()
    again = settled(page, 4)
    assert again == shown
    assert stored_conversation(page, "faxe") == conversation
    assert page.locator("#vk-panel").is_visible()


def test_switching_to_arabic_lays_the_chat_out_right_to_left(page, gateway):
    open_demo(page, gateway, "slagelse")
    open_chat(page)
    ask(page, "where can I find a doctor?")
    page.locator("#vk-language").select_option("ar")
    page.wait_for_function("() => document.querySelector('[data-velkommen-chat]').shadowRoot"
                           ".querySelector('.vk').getAttribute('dir') === 'rtl'")
    page.locator("#vk-input").fill("أين أتعلم اللغة الدنماركية؟")
    layout = page.evaluate("""() => {
        const root = document.querySelector('[data-velkommen-chat]').shadowRoot;
        const box = s => root.querySelector(s).getBoundingClientRect().toJSON();
        const text = s => root.querySelector(s).textContent;
        return {lang: root.querySelector('.vk').lang, send: box('.vk-send'), input: box('#vk-input'),
                panel: box('#vk-panel'), mine: box('.vk-mine'), theirs: box('.vk-theirs'), sendText: text('.vk-send'),
                deleteText: text('.vk-foot .vk-link'), title: text('h2'),
                english: getComputedStyle(root.querySelector('.vk-theirs .vk-text')).direction,
                typed: getComputedStyle(root.querySelector('#vk-input')).direction,
                log: getComputedStyle(root.querySelector('.vk-log')).direction};
    }""")
    assert layout["lang"] == "ar" and layout["log"] == "rtl"
    assert layout["sendText"] == AR["send"] and layout["deleteText"] == AR["delete"]
    assert layout["send"]["right"] <= layout["input"]["left"] + 1  # the send button sits left of the text box
    assert layout["panel"]["left"] < 100  # the panel is anchored to the left edge
    assert layout["mine"]["left"] < layout["theirs"]["left"]  # own messages on the left, replies on the right
    assert layout["english"] == "ltr" and layout["typed"] == "rtl"  # each text in its own direction
    screenshot(page, "widget-ar")

    page.reload()
    page.wait_for_function("() => document.querySelector('[data-velkommen-chat]').shadowRoot"
                           ".querySelector('.vk').getAttribute('dir') === 'rtl'")


@pytest.mark.parametrize("name, viewport, scale", [
    ("320px", {"width": 320, "height": 640}, 1),
    ("zoom-200", {"width": 640, "height": 400}, 2),  # a 1280×800 window at 200 % zoom
])
def test_chat_works_in_a_320px_window_and_at_200_percent_zoom(browser, gateway, name, viewport, scale):
    context = browser.new_context(locale="en-US", viewport=viewport, device_scale_factor=scale)
    try:
        page = context.new_page()
        open_demo(page, gateway, "frederikshavn")
        open_chat(page)
        shown = ask(page, "how do I find an apartment?")
        assert shown[-1]["sources"]
        fit = page.evaluate("""() => {
            const root = document.querySelector('[data-velkommen-chat]').shadowRoot;
            const box = s => root.querySelector(s).getBoundingClientRect().toJSON();
            const log = root.querySelector('.vk-log');
            return {pageWidth: document.documentElement.scrollWidth, panel: box('#vk-panel'), send: box('.vk-send'),
                    input: box('#vk-input'), remove: box('.vk-foot .vk-link'),
                    logOverflow: log.scrollWidth - log.clientWidth, logHeight: log.clientHeight};
        }""")
        width, height = viewport["width"], viewport["height"]
        assert fit["pageWidth"] <= width and fit["logOverflow"] <= 0  # no sideways scrolling
        for part in ("panel", "send", "input", "remove"):
            assert 0 <= fit[part]["left"] and fit[part]["right"] <= width, part
            assert 0 <= fit[part]["top"] and fit[part]["bottom"] <= height, part
        assert fit["logHeight"] >= 100
        screenshot(page, f"widget-{name}")
    finally:
        context.close()


def test_axe_core_finds_no_wcag_21_a_or_aa_violations(page, gateway):
    open_demo(page, gateway, "nyborg")
    assert_accessible(page, "closed")
    open_chat(page)
    ask(page, "hello")
    assert page.locator(".vk-chip").count() > 0
    assert_accessible(page, "open, with quick replies")
    ask(page, "where can I learn Danish?")
    page.locator(".vk-foot .vk-link").first.click()
    assert_accessible(page, "answer with source, delete confirmation open")
    page.keyboard.press("Escape")
    page.locator("#vk-language").select_option("ar")
    page.wait_for_function("() => document.querySelector('[data-velkommen-chat]').shadowRoot"
                           ".querySelector('.vk').getAttribute('dir') === 'rtl'")
    assert_accessible(page, "Arabic")


def test_replies_from_the_pipeline_reach_the_open_widget_by_server_sent_events(page, gateway):
    requests: list[tuple[str, str]] = []
    page.on("request", lambda request: requests.append((request.method, request.url)))
    open_demo(page, gateway, "faxe")
    open_chat(page)
    conversation = stored_conversation(page, "faxe")
    with gateway.api() as api:  # the same person writing from a second client (another tab, the API)
        turn = api.post(f"/api/conversations/{conversation}/messages", json={"text": "how do I find a doctor?"}).json()
    shown = wait_for_bubbles(page, 3 + len(turn["replies"]))
    assert shown[2]["role"] == "user" and shown[2]["text"] == "how do I find a doctor?"
    assert [b["text"] for b in shown[3:]] == [reply["text"] for reply in turn["replies"]]
    assert shown[3]["sources"] == list(dict.fromkeys(source["label"] for source in turn["replies"][0]["sources"]))
    assert any(f"/api/conversations/{conversation}/events" in url for _, url in requests)
    assert not [url for _, url in requests if "/messages" in url]  # pushed: the page neither polled nor posted


def test_text_from_the_server_is_shown_as_text_never_run_as_html(page, gateway):
    open_demo(page, gateway, "faxe")
    open_chat(page)
    conversation = stored_conversation(page, "faxe")
    markup = '<img src="x" onerror="window.injected = 1"><a href="javascript:alert(1)">hello</a>'
    with gateway.api() as api:
        api.post(f"/api/conversations/{conversation}/messages", json={"text": markup})
    shown = wait_for_bubbles(page, 4)
    assert shown[2]["text"] == markup and shown[2]["links"] == []
    assert page.evaluate("() => document.querySelector('[data-velkommen-chat]').shadowRoot"
                         ".querySelectorAll('img, .vk-msg a[href^=javascript]').length") == 0
    assert page.evaluate("() => window.injected") is None


def test_without_event_source_the_widget_falls_back_to_polling(context, gateway):
    context.add_init_script("delete window.EventSource")
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    open_demo(page, gateway, "faxe")
    open_chat(page)
    conversation = stored_conversation(page, "faxe")
    with gateway.api() as api:
        turn = api.post(f"/api/conversations/{conversation}/messages", json={"text": "where can I learn Danish?"}).json()
    shown = wait_for_bubbles(page, 3 + len(turn["replies"]))
    assert [b["text"] for b in shown[2:]] == ["where can I learn Danish?", *[r["text"] for r in turn["replies"]]]
    assert any("/messages?after=" in url for url in requests)
    assert not any("/events" in url for url in requests)


def test_quick_reply_by_keyboard_then_delete_erases_the_conversation(page, gateway):
    open_demo(page, gateway, "jammerbugt")
    open_chat(page)
    ask(page, "hello")
    screenshot(page, "widget-quick-replies")
    titles = page.locator(".vk-chip").all_text_contents()
    assert KB.topics["school"]["en"] in titles and KB.message("talk_to_person", "en") in titles
    page.locator(".vk-chip", has_text=KB.topics["school"]["en"]).focus()
    page.keyboard.press("Enter")
    shown = settled(page, 6)
    assert shown[4]["role"] == "user" and shown[4]["text"] == KB.topics["school"]["en"]
    assert shown[5]["sources"][0].startswith("From: Jammerbugt Kommune")
    assert shadow_focus(page)["id"] == "vk-input"

    conversation = stored_conversation(page, "jammerbugt")
    delete = tab_to(page, lambda focused: focused["className"] == "vk-link" and focused["tag"] == "button")
    assert delete["outlineStyle"] != "none"
    page.keyboard.press("Enter")
    assert "vk-plain" in shadow_focus(page)["className"]  # focus on Cancel: nothing erased by one key press
    page.keyboard.press("Escape")
    assert page.locator(".vk-confirm").is_hidden() and shadow_focus(page)["className"] == "vk-link"
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Tab")  # from Cancel back to "Yes, delete it"
    page.keyboard.press("Enter")
    page.locator(".vk-notice", has_text=EN["deleted"]).wait_for()
    assert bubbles(page) == [] and stored_conversation(page, "jammerbugt") is None
    with gateway.api() as api:
        assert api.get(f"/api/conversations/{conversation}/messages").status_code == 404

    page.keyboard.type("where can I learn Danish?")
    page.keyboard.press("Enter")
    fresh = settled(page, 4)
    assert fresh[0]["text"] == KB.message("disclosure", "en")  # a new conversation starts with the disclosure
    assert stored_conversation(page, "jammerbugt") not in (None, conversation)


def test_a_site_may_embed_the_widget_only_from_an_allowed_origin(page, gateway):
    page.goto(gateway.site_url)
    page.locator(".vk-launcher").wait_for()
    first = open_chat(page)
    assert first[0]["text"] == KB.message("disclosure", "en")

    page.goto(gateway.unlisted_site_url)
    fetched = page.evaluate("url => fetch(url).then(() => 'read', () => 'refused')", f"{gateway.url}/api/ui/en")
    assert fetched == "refused"
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => window.velkommenChat") and page.locator(".vk-launcher").is_hidden()
