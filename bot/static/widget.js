/* Velkommen web chat. A municipality pastes one tag:
 *   <script src="https://GATEWAY/widget.js" data-municipality="faxe" data-language="ar" defer></script>
 * Plain JavaScript, no build step. Renders inside a shadow root; every text from the server or
 * the person is inserted as text (textContent / Text nodes), never parsed as HTML.
 * Replies arrive over server-sent events, with polling as the fallback. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector('script[src*="widget.js"][data-municipality]');
  if (!script || window.velkommenChat) return;
  window.velkommenChat = true;

  var gateway = new URL(".", script.src).href;
  var municipality = script.getAttribute("data-municipality") || null;
  var pageLanguage = script.getAttribute("data-language") || null;
  var storageKey = "velkommen:" + (municipality || "any");
  var POLL_MS = 3000;
  var URL_IN_TEXT = /(https?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]])/;

  var state = read();  // {id, open, lang}: the conversation survives reloads in this browser
  var ui = null;  // {language, dir, strings, languages}
  var seen = new Set();  // seqs already shown
  var pending = new Map();  // client_id -> bubble of a message not yet confirmed
  var lastSeq = 0;
  var stream = null;
  var pollTimer = null;
  var starting = null;
  var sending = Promise.resolve();
  var typing = 0;

  function read() {
    try { return JSON.parse(localStorage.getItem(storageKey)) || {}; } catch (e) { return {}; }
  }
  function save() {
    try { localStorage.setItem(storageKey, JSON.stringify(state)); } catch (e) { /* storage off: this page only */ }
  }

  // -- DOM helpers: text only -----------------------------------------------------------------
  function h(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (typeof value === "function") node.addEventListener(name, value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) if (arguments[i] != null) node.append(arguments[i]);
    return node;
  }
  // An element whose text (or attribute) is the UI string `key`, refreshed on a language switch.
  function t(node, key, attribute) {
    node.setAttribute(attribute ? "data-ta" : "data-t", attribute ? attribute + ":" + key : key);
    return node;
  }
  function say(key) { return ui ? ui.strings[key] : ""; }
  function icon(path) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var shape = document.createElementNS("http://www.w3.org/2000/svg", "path");
    shape.setAttribute("d", path);
    svg.append(shape);
    return svg;
  }
  function safeUrl(value) {
    try {
      var url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) { return null; }
  }
  function link(href, text) {
    return h("a", {href: href, target: "_blank", rel: "noopener noreferrer"}, text);
  }
  // Text with any web address in it made a link (the privacy notice in the first message).
  function linked(text) {
    var parts = String(text).split(URL_IN_TEXT);
    var fragment = document.createDocumentFragment();
    parts.forEach(function (part, index) {
      var href = index % 2 ? safeUrl(part) : null;
      fragment.append(href ? link(href, part) : part);
    });
    return fragment;
  }

  // -- the widget's parts ---------------------------------------------------------------------
  var host = h("div", {"data-velkommen-chat": ""});
  var root = host.attachShadow({mode: "open"});
  var shell = h("aside", {class: "vk", hidden: true});
  var launcher = h("button", {type: "button", class: "vk-launcher", "aria-expanded": "false", "aria-controls": "vk-panel",
                              click: function () { setOpen(true, true); }},
    icon("M4 4h16v12H7l-3 3z"), t(h("span"), "launcher"));
  var badge = h("span", {class: "vk-badge", hidden: true}, t(h("span", {class: "vk-sr"}), "new_message"));
  launcher.append(badge);
  var title = t(h("h2", {id: "vk-title"}), "title");
  var picker = h("select", {id: "vk-language", change: function () { chooseLanguage(picker.value); }});
  var closer = t(h("button", {type: "button", class: "vk-close", click: function () { setOpen(false, true); }},
    icon("M6 6l12 12M18 6L6 18")), "close", "aria-label");
  var log = t(h("div", {class: "vk-log", role: "log", "aria-live": "polite", tabindex: "0"}), "conversation", "aria-label");
  var typingLine = h("p", {class: "vk-typing", role: "status"});
  var suggestions = t(h("div", {class: "vk-suggestions", role: "group", hidden: true}), "suggestions", "aria-label");
  var notice = h("p", {class: "vk-notice", role: "status"});
  var input = t(h("textarea", {id: "vk-input", rows: "2", dir: "auto", keydown: onKey}), "placeholder", "placeholder");
  var form = h("form", {class: "vk-form", submit: onSubmit},
    t(h("label", {for: "vk-input", class: "vk-sr"}), "message_label"), input,
    h("button", {type: "submit", class: "vk-send"}, t(h("span"), "send")));
  var deleteButton = t(h("button", {type: "button", class: "vk-link", click: askDelete}), "delete");
  var privacyLink = t(h("a", {class: "vk-link", target: "_blank", rel: "noopener noreferrer"}), "privacy");
  var confirmYes = t(h("button", {type: "button", class: "vk-danger", click: eraseConversation}), "delete_yes");
  var confirmNo = t(h("button", {type: "button", class: "vk-plain", click: function () { showConfirm(false); }}), "delete_no");
  var confirmBox = h("div", {class: "vk-confirm", role: "group", "aria-labelledby": "vk-confirm-question", hidden: true},
    t(h("p", {id: "vk-confirm-question"}), "delete_question"), confirmYes, confirmNo);
  var panel = h("section", {id: "vk-panel", class: "vk-panel", "aria-labelledby": "vk-title", hidden: true, keydown: onPanelKey},
    h("header", {class: "vk-head"},
      h("div", {class: "vk-titles"}, title, t(h("p", {class: "vk-sub"}), "subtitle")),
      h("div", {class: "vk-tools"}, t(h("label", {for: "vk-language", class: "vk-sr"}), "language"), picker, closer)),
    log, typingLine, suggestions, notice, form,
    h("footer", {class: "vk-foot"}, deleteButton, privacyLink), confirmBox);
  shell.append(launcher, panel);

  // -- UI strings and language ----------------------------------------------------------------
  function fetchUi(code) {
    return fetch(new URL("api/ui/" + encodeURIComponent(code), gateway)).then(function (response) {
      return response.ok ? response.json() : null;
    }, function () { return null; });
  }
  function wantedLanguages() {
    return [state.lang, pageLanguage].concat(Array.from(navigator.languages || [navigator.language]), [document.documentElement.lang])
      .filter(Boolean).map(function (tag) { return tag.toLowerCase().split("-")[0]; });
  }
  function loadUi() {
    var wanted = wantedLanguages();
    return fetchUi(wanted[0] || "en").then(function (found) { return found || fetchUi("en"); }).then(function (found) {
      if (!found) return null;
      var codes = found.languages.map(function (entry) { return entry.code; });
      var best = wanted.filter(function (code) { return codes.indexOf(code) >= 0; })[0] || found.language;
      return best === found.language ? found : fetchUi(best).then(function (other) { return other || found; });
    });
  }
  function applyUi(next) {
    ui = next;
    shell.setAttribute("lang", ui.language);
    shell.setAttribute("dir", ui.dir);
    shell.setAttribute("aria-label", ui.strings.title);
    picker.replaceChildren.apply(picker, ui.languages.map(function (entry) {
      return h("option", {value: entry.code, lang: entry.code, selected: entry.code === ui.language}, entry.name);
    }));
    root.querySelectorAll("[data-t]").forEach(function (node) { node.textContent = say(node.getAttribute("data-t")); });
    root.querySelectorAll("[data-ta]").forEach(function (node) {
      var binding = node.getAttribute("data-ta").split(":");
      node.setAttribute(binding[0], say(binding[1]));
    });
    privacyLink.href = new URL("privacy?lang=" + ui.language, gateway).href;
    if (typing) typingLine.textContent = say("typing");
  }
  function chooseLanguage(code) {
    fetchUi(code).then(function (next) {
      if (!next) return;
      state.lang = code;
      save();
      applyUi(next);
    });
  }

  // -- talking to the gateway -----------------------------------------------------------------
  function api(method, path, body) {
    var options = {method: method};
    if (body) {
      options.headers = {"content-type": "application/json"};
      options.body = JSON.stringify(body);
    }
    return fetch(new URL("api/" + path, gateway), options).then(function (response) {
      if (response.status === 204) return null;
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok) return data;
        var error = new Error("HTTP " + response.status);
        error.status = response.status;
        error.detail = typeof data.detail === "string" ? data.detail : null;
        throw error;
      });
    });
  }
  function conversationPath(suffix) { return "conversations/" + encodeURIComponent(state.id) + (suffix || ""); }

  function ensureConversation() {
    if (state.id) return Promise.resolve();
    if (!starting) {
      starting = api("POST", "conversations", {municipality: municipality, language: pageLanguage}).then(function (created) {
        state.id = created.id;
        save();
        add(created.messages, true);
        listen();
      }).finally(function () { starting = null; });
    }
    return starting;
  }
  function restore() {
    return api("GET", conversationPath("/messages")).then(function (history) {
      add(history.messages, true);
      listen();
    }, function (error) {
      if (error.status !== 404) return setNotice("offline");
      forget();
      if (!panel.hidden) ensureConversation().catch(function () { setNotice("offline"); });
    });
  }

  // Server-sent events deliver every message after the last one shown; polling if they fail.
  function listen() {
    stopListening();
    if (!state.id) return;
    if (!window.EventSource) return poll();
    stream = new EventSource(new URL("api/" + conversationPath("/events?after=" + lastSeq), gateway));
    stream.onmessage = function (event) { add([JSON.parse(event.data)]); };
    stream.addEventListener("erased", function () { forget(); });
    stream.onerror = function () {
      if (stream && stream.readyState === EventSource.CLOSED) {
        stream = null;
        poll();
      }
    };
  }
  function poll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () {
      if (!state.id) return;
      api("GET", conversationPath("/messages?after=" + lastSeq)).then(function (news) {
        add(news.messages);
        poll();
      }, function (error) {
        if (error.status === 404) forget();
        else poll();
      });
    }, POLL_MS);
  }
  function stopListening() {
    if (stream) stream.close();
    stream = null;
    clearTimeout(pollTimer);
  }

  // -- messages -------------------------------------------------------------------------------
  function bubble(message) {
    var mine = message.role === "user";
    var node = h("div", {class: "vk-msg " + (mine ? "vk-mine" : "vk-theirs")},
      t(h("span", {class: "vk-sr"}), mine ? "you" : "title"),
      h("p", {class: "vk-text", dir: "auto", lang: message.language && message.language !== "und" ? message.language : null},
        mine ? message.text : linked(message.text)));
    var labels = new Set();  // two quotes from one section are one source to the reader
    (message.sources || []).forEach(function (source) {
      var href = source.url && safeUrl(source.url);
      if (labels.has(source.label + href)) return;
      labels.add(source.label + href);
      node.append(h("p", {class: "vk-source", dir: "auto"}, href ? link(href, source.label) : source.label));
    });
    if (message.translated === "machine") node.append(t(h("p", {class: "vk-note"}), "machine_translated"));
    node.message = message;
    return node;
  }
  function place(node, seq) {
    node.setAttribute("data-seq", seq);
    var later = Array.prototype.find.call(log.children, function (other) {
      var unconfirmed = !other.hasAttribute("data-seq") && !other.classList.contains("vk-failed");
      return unconfirmed || Number(other.getAttribute("data-seq")) > seq;
    });
    log.insertBefore(node, later || null);
  }
  function confirmSeq(seq) {
    seen.add(seq);
    lastSeq = Math.max(lastSeq, seq);
  }
  function add(messages, history) {
    var first = null;
    messages.forEach(function (message) {
      if (seen.has(message.seq)) return;
      var waiting = message.client_id && pending.get(message.client_id);
      confirmSeq(message.seq);
      if (waiting) {
        pending.delete(message.client_id);
        place(waiting, message.seq);
        return;
      }
      var node = bubble(message);
      applyStringsTo(node);
      place(node, message.seq);
      first = first || node;
      if (!history && message.role !== "user" && panel.hidden) badge.hidden = false;
    });
    showSuggestions();
    if (first) log.scrollTop = history ? log.scrollHeight : first.offsetTop - 8;
  }
  function applyStringsTo(node) {
    node.querySelectorAll("[data-t]").forEach(function (item) { item.textContent = say(item.getAttribute("data-t")); });
  }
  // Quick replies: the buttons of the last message, when it is the assistant's.
  function showSuggestions() {
    var last = log.lastElementChild;
    var buttons = last && last.message && last.message.role !== "user" ? last.message.buttons || [] : [];
    suggestions.replaceChildren.apply(suggestions, buttons.map(function (button) {
      return h("button", {type: "button", class: "vk-chip", dir: "auto", click: function () {
        input.focus();
        send(button.title, button.choice);
      }}, button.title);
    }));
    suggestions.hidden = !buttons.length;
  }

  // -- sending --------------------------------------------------------------------------------
  function onKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      onSubmit(event);
    }
  }
  function onSubmit(event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text, null);
  }
  function newClientId() {
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function send(text, choice) {
    var body = {text: text, choice: choice, client_id: newClientId()};
    var node = bubble({role: "user", text: text});
    applyStringsTo(node);
    pending.set(body.client_id, node);
    log.append(node);
    log.scrollTop = log.scrollHeight;
    suggestions.hidden = true;
    setNotice(null);
    sending = sending.then(function () { return post(node, body, true); });
  }
  function post(node, body, retryOnMissing) {
    setTyping(1);
    return ensureConversation().then(function () {
      return api("POST", conversationPath("/messages"), body);
    }).then(function (turn) {
      node.classList.remove("vk-failed");
      if (pending.has(body.client_id)) {
        pending.delete(body.client_id);
        place(node, turn.seq);
        confirmSeq(turn.seq);
      }
      add(turn.replies);
    }, function (error) {
      if (error.status === 404 && retryOnMissing) {  // deleted or expired meanwhile: start afresh
        forget(true);
        return post(node, body, false);
      }
      failed(node, body, error);
    }).finally(function () { setTyping(-1); });
  }
  function failed(node, body, error) {
    if (node.classList.contains("vk-failed")) return;
    node.classList.add("vk-failed");
    var retry = t(h("button", {type: "button", class: "vk-plain", click: function () {
      note.remove();
      node.classList.remove("vk-failed");
      sending = sending.then(function () { return post(node, body, true); });
    }}), "retry");
    var note = h("p", {class: "vk-note"}, error.detail || say("send_failed"), " ", retry);
    applyStringsTo(note);
    node.append(note);
  }
  function setTyping(change) {
    typing += change;
    typingLine.textContent = typing ? say("typing") : "";
    typingLine.classList.toggle("vk-busy", typing > 0);
  }
  function setNotice(key) { notice.textContent = key ? say(key) : ""; }

  // -- delete ---------------------------------------------------------------------------------
  function askDelete() { showConfirm(true); }
  function showConfirm(open) {
    confirmBox.hidden = !open;
    (open ? confirmNo : deleteButton).focus();
  }
  function eraseConversation() {
    var erase = state.id ? api("DELETE", conversationPath()) : Promise.resolve();
    stopListening();
    erase.then(null, function (error) { if (error.status !== 404) throw error; }).then(function () {
      forget();
      confirmBox.hidden = true;
      setNotice("deleted");
      input.focus();
    }, function () {
      listen();
      setNotice("offline");
      showConfirm(false);
    });
  }
  // Forget the conversation here (erased, or gone from the server); `keepLog` keeps what is shown.
  function forget(keepLog) {
    stopListening();
    state.id = null;
    save();
    seen.clear();
    lastSeq = 0;
    if (!keepLog) {
      log.replaceChildren();
      pending.clear();
      showSuggestions();
    }
  }

  // -- open and close -------------------------------------------------------------------------
  function setOpen(open, moveFocus) {
    state.open = open;
    save();
    panel.hidden = !open;
    launcher.hidden = open;
    launcher.setAttribute("aria-expanded", String(open));
    if (open) {
      badge.hidden = true;
      ensureConversation().catch(function () { setNotice("offline"); });
      if (moveFocus) input.focus();
    } else if (moveFocus) {
      launcher.focus();
    }
  }
  function onPanelKey(event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      if (!confirmBox.hidden) showConfirm(false);
      else setOpen(false, true);
    }
  }

  function start() {
    var style = h("link", {rel: "stylesheet", href: new URL("widget.css", gateway).href});
    var styled = new Promise(function (resolve) { style.onload = style.onerror = resolve; });
    root.append(style, shell);
    document.body.append(host);
    Promise.all([loadUi(), styled]).then(function (results) {
      if (!results[0]) return;  // the gateway cannot be reached: show nothing rather than a broken chat
      applyUi(results[0]);
      shell.hidden = false;
      if (state.id) restore();
      setOpen(Boolean(state.open), false);
    });
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
