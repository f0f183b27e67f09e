/* Shared helpers of the MoySklad admin pages.
 * Everything from the server (names, messages, journal bodies) is hostile input: it only ever reaches
 * the page through textContent and attribute setters, never innerHTML. */
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute("content") || "" : "";

  const CODE_TEXT = {
    validation_error: "Проверьте поля, отмеченные ниже.",
    csrf_failed: "Сессия устарела: обновите страницу.",
    forbidden: "Нет доступа к этому предприятию.",
    not_found: "Не найдено.",
    bad_json: "Сервер не понял запрос.",
    payload_too_large: "Слишком большой запрос.",
    db_unavailable: "База данных недоступна, повторите позже.",
    db_busy: "Сервер занят, повторите позже.",
    not_available: "Сейчас недоступно, повторите позже.",
  };

  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (e) {
      return { status: 0, ok: false, data: { error: { code: "network", message: "Нет связи с сервером." } } };
    }
    if (resp.status === 401) {  // the session ended: log in again and come back here
      window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    }
    let data = null;
    if (resp.status !== 204) {
      try { data = await resp.json(); } catch (e) { data = null; }
    }
    return { status: resp.status, ok: resp.ok, data };
  }

  function errorText(res) {
    const err = res && res.data && res.data.error;
    if (!err) return res && res.status ? "Ошибка сервера (" + res.status + ")." : "Нет связи с сервером.";
    // Messages of these codes are written for people (in Russian) by the server.
    if (["moysklad_error", "not_configured", "network"].includes(err.code)) return err.message;
    return CODE_TEXT[err.code] || ("Ошибка: " + err.message);
  }

  /* el("td", {class: "x", dataset: {a: "1"}}, ["text", otherNode]) */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "text") node.textContent = String(value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function flatten(details, prefix, out) {
    out = out || {};
    if (Array.isArray(details)) {
      out[prefix || "_other"] = details.map(String).join(" ");
    } else if (details && typeof details === "object") {
      for (const [key, value] of Object.entries(details)) flatten(value, prefix ? prefix + "." + key : key, out);
    } else if (details !== undefined && details !== null) {
      out[prefix || "_other"] = String(details);
    }
    return out;
  }

  function clearErrors(root) {
    root.querySelectorAll("[data-error-for]").forEach((p) => { p.textContent = ""; p.hidden = true; });
    root.querySelectorAll(".has-error").forEach((n) => n.classList.remove("has-error"));
  }

  /* Field errors of a 422 next to their fields; errors without a field go to [data-error-for=_other]. */
  function showErrors(root, details) {
    clearErrors(root);
    const rest = [];
    for (const [path, message] of Object.entries(flatten(details))) {
      let slot = root.querySelector('[data-error-for="' + CSS.escape(path) + '"]');
      for (let p = path; !slot && p.includes("."); ) {  // a nested error without its own slot
        p = p.slice(0, p.lastIndexOf("."));
        slot = root.querySelector('[data-error-for="' + CSS.escape(p) + '"]');
      }
      if (!slot) { rest.push(path + ": " + message); continue; }
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + message;
      slot.hidden = false;
      const field = slot.closest(".field, fieldset, label");
      if (field) field.classList.add("has-error");
    }
    const other = root.querySelector('[data-error-for="_other"]');
    if (other && rest.length) { other.textContent = rest.join("; "); other.hidden = false; }
    const first = root.querySelector(".field-error:not([hidden])");
    if (first) first.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString("ru-RU");
  }

  function say(node, text, kind) {
    node.textContent = text || "";
    node.classList.remove("ok", "bad");
    if (kind) node.classList.add(kind);
  }

  const main = document.querySelector("main");
  window.MS = {
    api, errorText, el, flatten, clearErrors, showErrors, fmtTime, say,
    ent: main ? main.dataset.ent : "",
  };
})();
