// Playground: chat through one of the user's own keys with POST /v1/chat/completions, as an API
// client would; streamed replies are read from the SSE body as they arrive. The transcript and the
// revealed key stay in this page's memory only.
"use strict";
(function () {
  const { T, api, el, show } = window.NA;
  const fmt = (template, values) => template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));

  const settings = document.querySelector('form[data-form="chat-settings"]');
  const chat = document.querySelector('form[data-form="chat"]');
  const transcript = document.querySelector("[data-transcript]");
  const tokenSelect = settings.elements.token;
  const modelSelect = settings.elements.model;
  const sendButton = chat.querySelector("button[type=submit]");
  const stopButton = chat.querySelector('[data-action="stop"]');
  const clearButton = chat.querySelector('[data-action="clear"]');

  let tokens = [];
  let userGroup = "";
  const keys = new Map(); // token id -> full key (without "sk-"), revealed on demand
  const modelLists = new Map(); // group ("" = every usable group) -> models
  let history = []; // [{role, content}] sent with every request
  let controller = null; // AbortController of the request in flight
  let conversation = 0; // bumped by "clear": a reply still finishing then leaves the new history alone
  let ready = false; // a key and a model are chosen

  class RelayFailure extends Error {}

  // -- keys and models ----------------------------------------------------------------------------

  function setReady(value) {
    ready = value;
    sendButton.disabled = !ready || !!controller;
  }

  async function loadTokens() {
    const [res, self] = await Promise.all([api("GET", "/api/token/?p=1&page_size=100"), api("GET", "/api/user/self")]);
    if (self.success) userGroup = self.data.group || "";
    if (!res.success) {
      tokenSelect.replaceChildren();
      return show(res.message);
    }
    tokens = res.data.items.filter((t) => t.status === 1);
    tokenSelect.replaceChildren(...tokens.map((t) => el("option", { value: String(t.id) }, t.name || t.key)));
    if (!tokens.length) {
      document.querySelector("[data-no-keys]").hidden = false;
      chat.elements.message.disabled = true;
      return setReady(false);
    }
    tokenSelect.disabled = false;
    await chooseToken();
  }

  async function modelsFor(group) {
    if (modelLists.has(group)) return modelLists.get(group);
    const res = await api("GET", "/api/user/models" + (group ? "?group=" + encodeURIComponent(group) : ""));
    if (!res.success) throw new RelayFailure(res.message);
    modelLists.set(group, res.data || []);
    return modelLists.get(group);
  }

  /** The models a key can ask for: its own limit list, else what its group (or the user's) serves. */
  async function keyModels(tok) {
    if (tok.model_limits_enabled) {
      return tok.model_limits.split(",").map((m) => m.trim()).filter(Boolean);
    }
    const group = tok.group || userGroup;
    const models = group ? await modelsFor(group) : [];
    return models.length ? models : modelsFor("");
  }

  async function chooseToken() {
    setReady(false);
    const tok = tokens.find((t) => String(t.id) === tokenSelect.value);
    if (!tok) return;
    const previous = modelSelect.value;
    modelSelect.disabled = true;
    try {
      const [models] = await Promise.all([keyModels(tok), revealKey(tok.id)]);
      if (tokenSelect.value !== String(tok.id)) return; // another key was picked meanwhile
      modelSelect.replaceChildren(...models.map((m) => el("option", { value: m }, m)));
      if (models.includes(previous)) modelSelect.value = previous;
      document.querySelector("[data-no-models]").hidden = models.length > 0;
      modelSelect.disabled = !models.length;
      show("");
      setReady(models.length > 0);
    } catch (e) {
      show(e instanceof RelayFailure && e.message ? e.message : T.request_failed);
    }
  }

  async function revealKey(id) {
    if (keys.has(id)) return keys.get(id);
    const res = await api("POST", "/api/token/" + id + "/key");
    if (!res.success) throw new RelayFailure(res.message);
    keys.set(id, res.data.key);
    return res.data.key;
  }

  // -- transcript ---------------------------------------------------------------------------------

  function bubble(role, content) {
    const hint = transcript.querySelector("[data-hint]");
    if (hint) hint.remove();
    const body = el("div", { class: "pg-text" }, content || "");
    const node = el("div", { class: "pg-msg " + role, "data-role": role },
      el("div", { class: "pg-who" }, role === "user" ? T.playground_you : T.playground_assistant), body);
    transcript.append(node);
    transcript.scrollTop = transcript.scrollHeight;
    return { node, body };
  }

  function note(node, text, kind) {
    node.append(el("div", { class: "pg-note" + (kind ? " " + kind : ""), "data-note": kind || "info" }, text));
    transcript.scrollTop = transcript.scrollHeight;
  }

  /** The reply's reasoning, shown folded above its text when the model sends any. */
  function reasoningBox(node) {
    let box = node.querySelector(".pg-reasoning pre");
    if (!box) {
      box = el("pre", {});
      node.querySelector(".pg-text").before(el("details", { class: "pg-reasoning" },
        el("summary", {}, T.playground_thinking), box));
    }
    return box;
  }

  // -- talking to the relay -----------------------------------------------------------------------

  function requestBody(stream) {
    const e = settings.elements;
    const messages = [];
    const system = e.system.value.trim();
    if (system) messages.push({ role: "system", content: system });
    messages.push(...history);
    const body = { model: modelSelect.value, messages, stream };
    if (stream) body.stream_options = { include_usage: true };
    if (e.temperature.value !== "") body.temperature = Number(e.temperature.value);
    if (e.max_tokens.value !== "") body.max_tokens = Math.round(Number(e.max_tokens.value));
    return body;
  }

  /** The message of an OpenAI error body (`{error: {message}}`), or a fallback with the status. */
  async function errorOf(response) {
    const raw = await response.text();
    try {
      const data = JSON.parse(raw);
      const message = (data.error && (data.error.message || data.error)) || data.message;
      if (message) return String(message);
    } catch (e) {
      // not JSON: fall through to the status line
    }
    return T.request_failed + " (" + response.status + ")" + (raw ? ": " + raw.slice(0, 300) : "");
  }

  /** Read an SSE body, appending deltas as they arrive; returns {text, usage, done}. */
  async function readStream(response, reply) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let text = "";
    let usage = null;
    const handle = (line) => {
      if (!line.startsWith("data:")) return false;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return true;
      let event;
      try {
        event = JSON.parse(data);
      } catch (e) {
        return false;
      }
      if (event.error) throw new RelayFailure(event.error.message || String(event.error));
      if (event.usage) usage = event.usage;
      const delta = event.choices && event.choices[0] && event.choices[0].delta;
      if (delta && delta.reasoning_content) reasoningBox(reply.node).textContent += delta.reasoning_content;
      if (delta && delta.content) {
        text += delta.content;
        reply.body.textContent = text;
        transcript.scrollTop = transcript.scrollHeight;
      }
      return false;
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, "");
        buffer = buffer.slice(end + 1);
        if (handle(line)) {
          reader.cancel().catch(() => {});
          return { text, usage, done: true };
        }
      }
    }
    buffer += decoder.decode();
    return { text, usage, done: buffer.trim() !== "" && handle(buffer.trim()) };
  }

  function finishReply(reply, text, usage, remember) {
    if (text) remember({ role: "assistant", content: text });
    if (usage) {
      note(reply.node, fmt(T.playground_usage, {
        prompt: usage.prompt_tokens ?? 0, completion: usage.completion_tokens ?? 0,
      }), "usage");
    }
  }

  async function send(message) {
    const tok = tokens.find((t) => String(t.id) === tokenSelect.value);
    const stream = settings.elements.stream.checked;
    const turn = conversation;
    const remember = (entry) => turn === conversation && history.push(entry);
    history.push({ role: "user", content: message });
    bubble("user", message);
    const reply = bubble("assistant", "");
    reply.node.classList.add("pending");
    controller = new AbortController();
    transcript.dataset.busy = "1"; // browser tests wait for this to go
    sendButton.disabled = true;
    stopButton.disabled = false;
    let text = "";
    try {
      const key = await revealKey(tok.id);
      const response = await fetch("/v1/chat/completions", {
        method: "POST",
        credentials: "omit",
        headers: {
          Authorization: "Bearer sk-" + key,
          "Content-Type": "application/json",
          Accept: stream ? "text/event-stream" : "application/json",
        },
        body: JSON.stringify(requestBody(stream)),
        signal: controller.signal,
      });
      if (!response.ok) throw new RelayFailure(await errorOf(response));
      if (stream && (response.headers.get("content-type") || "").includes("text/event-stream")) {
        const result = await readStream(response, reply);
        text = result.text;
        finishReply(reply, text, result.usage, remember);
        if (!result.done) note(reply.node, T.playground_incomplete, "error");
      } else {
        const data = await response.json();
        if (data.error) throw new RelayFailure(data.error.message || String(data.error));
        const answer = (data.choices && data.choices[0] && data.choices[0].message) || {};
        if (answer.reasoning_content) reasoningBox(reply.node).textContent = answer.reasoning_content;
        text = typeof answer.content === "string" ? answer.content : "";
        reply.body.textContent = text;
        finishReply(reply, text, data.usage, remember);
      }
    } catch (e) {
      text = reply.body.textContent;
      if (text) remember({ role: "assistant", content: text });
      if (e.name === "AbortError") {
        note(reply.node, T.playground_stopped);
      } else {
        note(reply.node, e instanceof RelayFailure ? e.message : T.request_failed, "error");
        reply.node.classList.add("failed");
      }
      // A turn that got no answer is not sent again: the next message starts from the last reply.
      if (!text && turn === conversation && history.length && history[history.length - 1].role === "user") {
        history.pop();
      }
    } finally {
      reply.node.classList.remove("pending");
      controller = null;
      delete transcript.dataset.busy;
      stopButton.disabled = true;
      setReady(ready);
    }
  }

  // -- events -------------------------------------------------------------------------------------

  chat.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const message = chat.elements.message.value.trim();
    if (!message || !ready || controller) return;
    chat.elements.message.value = "";
    show("");
    send(message);
  });
  chat.elements.message.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      chat.requestSubmit();
    }
  });
  settings.addEventListener("submit", (ev) => ev.preventDefault());
  stopButton.addEventListener("click", () => controller && controller.abort());
  clearButton.addEventListener("click", () => {
    if (controller) controller.abort();
    conversation++;
    history = [];
    transcript.replaceChildren(el("p", { class: "pg-hint", "data-hint": true }, T.playground_empty));
  });
  tokenSelect.addEventListener("change", chooseToken);

  loadTokens().catch(() => show(T.request_failed));
})();
