/* Settings form: save (PUT merge), secrets, webhook URL, connection test, account options, delete. */
"use strict";

(function () {
  const { api, errorText, el, showErrors, clearErrors, say } = window.MS;
  const ent = encodeURIComponent(window.MS.ent);
  const form = document.getElementById("settings");
  if (!form) return;
  const SECRETS = ["integration_code", "password", "api_token"];
  const STATE_TEXT = {
    ok: "Работает", disabled: "Выключена",
    credentials_invalid: "МойСклад не принимает ключ", degraded: "Работает не полностью",
  };
  const cleared = new Set();
  let config = null;

  function setPath(obj, path, value) {
    const parts = path.split(".");
    let cur = obj;
    for (const part of parts.slice(0, -1)) cur = cur[part] = cur[part] || {};
    cur[parts[parts.length - 1]] = value;
  }

  /* The PUT body: only what the form holds. Empty secret fields are not sent (the stored value stays);
   * a secret marked "clear" is sent as null. */
  function collect() {
    const body = {};
    for (const input of form.querySelectorAll("[name][data-kind]")) {
      const kind = input.dataset.kind;
      const name = input.name;
      if (kind === "secret") {
        if (cleared.has(name)) setPath(body, name, null);
        else if (input.value.trim()) setPath(body, name, input.value.trim());
      } else if (kind === "bool") {
        setPath(body, name, input.checked);
      } else if (kind === "radio") {
        if (input.checked) setPath(body, name, input.value);
      } else if (kind === "int") {
        const raw = input.value.trim();
        setPath(body, name, raw === "" ? null : (/^-?\d+$/.test(raw) ? Number(raw) : raw));
      } else {
        const raw = input.value.trim();
        setPath(body, name, raw === "" ? null : raw);
      }
    }
    return body;
  }

  function showSecrets() {
    for (const key of SECRETS) {
      const has = config && config["has_" + key];
      const state = form.querySelector('[data-secret-state="' + key + '"]');
      const button = form.querySelector('[data-clear-secret="' + key + '"]');
      const input = form.querySelector('[name="' + key + '"]');
      const clearing = cleared.has(key);
      state.textContent = clearing ? "будет очищен" : (has ? "задан" : "не задан");
      state.className = "secret-state " + (clearing ? "clearing" : (has ? "set" : "unset"));
      button.textContent = clearing ? "Не очищать" : "Очистить";
      button.hidden = !has && !clearing;
      input.placeholder = has ? "задан — оставьте пустым, чтобы не менять" : "не задан";
    }
  }

  function showStatus() {
    const status = config.status || {};
    const badge = document.getElementById("status-badge");
    badge.textContent = STATE_TEXT[status.state] || status.state;
    badge.className = "badge state-" + status.state;
    const detail = document.getElementById("status-detail");
    const extra = status.jobs_failed ? " Не выполнено задач: " + status.jobs_failed + "." : "";
    detail.textContent = (status.last_error || "") + extra;
    detail.hidden = !detail.textContent;
    document.getElementById("webhook-url").value = config.webhook_url || "";
  }

  function apply(newConfig) {
    config = newConfig;
    cleared.clear();
    for (const key of SECRETS) form.querySelector('[name="' + key + '"]').value = "";
    showSecrets();
    showStatus();
  }

  async function load() {
    const res = await api("GET", "/ms-admin/config/" + ent);
    if (res.ok) apply(res.data);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const state = document.getElementById("save-state");
    const button = document.getElementById("btn-save");
    button.disabled = true;
    say(state, "Сохраняю…");
    const res = await api("PUT", "/ms-admin/config/" + ent, collect());
    button.disabled = false;
    if (res.ok) {
      clearErrors(form);
      apply(res.data);
      say(state, "Сохранено.", "ok");
      loadOptions();  // new credentials may open the account's lists
    } else if (res.status === 422) {
      showErrors(form, res.data.error.details);
      say(state, "Не сохранено: " + errorText(res), "bad");
    } else {
      say(state, "Не сохранено. " + errorText(res), "bad");
    }
  });

  form.addEventListener("click", (event) => {
    const key = event.target.closest("[data-clear-secret]");
    if (!key) return;
    const name = key.dataset.clearSecret;
    if (cleared.has(name)) cleared.delete(name); else cleared.add(name);
    showSecrets();
  });

  async function runTest() {
    const box = document.getElementById("test-result");
    const button = document.getElementById("btn-test");
    button.disabled = true;
    box.replaceChildren(el("p", { class: "hint", text: "Проверяю…" }));
    const body = {};
    for (const key of ["integration_code", "login", "password", "api_token"]) {
      const value = form.querySelector('[name="' + key + '"]').value.trim();
      if (value) body[key] = value;  // typed but unsaved values are tested; empty = the saved ones
    }
    const res = await api("POST", "/ms-admin/test/" + ent, body);
    button.disabled = false;
    if (!res.ok) { box.replaceChildren(el("p", { class: "bad", text: errorText(res) })); return; }
    const line = (title, r) => el("p", { class: "test-line " + (r.ok ? "ok" : "bad"), dataset: { code: r.code } }, [
      el("strong", { text: (r.ok ? "✓ " : "✗ ") + title + ": " }), r.message]);
    box.replaceChildren(line("Phone API (звонки и карточки)", res.data.phone_api),
                        line("Основной API (клиенты, заказы, задачи)", res.data.json_api));
  }
  document.getElementById("btn-test").addEventListener("click", runTest);

  document.getElementById("btn-copy").addEventListener("click", async () => {
    const input = document.getElementById("webhook-url");
    const note = document.getElementById("copy-state");
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (e) {
      input.select();
      document.execCommand("copy");
    }
    say(note, "Скопировано.", "ok");
  });

  document.getElementById("btn-rotate").addEventListener("click", async () => {
    if (!window.confirm("Сменить адрес? Старый перестанет работать, и новый нужно будет вставить в МойСклад.")) return;
    const res = await api("POST", "/ms-admin/config/" + ent + "/rotate-webhook");
    const note = document.getElementById("copy-state");
    if (res.ok) { apply(res.data); say(note, "Адрес сменён: вставьте новый в МойСклад.", "ok"); }
    else say(note, errorText(res), "bad");
  });

  document.getElementById("btn-delete").addEventListener("click", async () => {
    if (!window.confirm("Удалить все настройки МойСклад этого предприятия?")) return;
    const res = await api("DELETE", "/ms-admin/config/" + ent);
    if (res.ok) window.location.reload();
    else window.alert(errorText(res));
  });

  /* Order states, sales channels and organizations of the account, for the selects. */
  async function loadOptions() {
    const note = document.getElementById("options-state");
    const res = await api("GET", "/ms-admin/options/" + ent);
    if (!res.ok) { say(note, errorText(res), "bad"); return; }
    say(note, res.data.error ? "Списки из МойСклад недоступны: " + res.data.error : "", res.data.error ? "bad" : null);
    for (const select of form.querySelectorAll("select[data-options]")) {
      const items = res.data[select.dataset.options] || [];
      const byId = select.dataset.options === "organizations";
      const current = select.value;
      const keep = byId ? [...select.options].filter((o) => o.value === "") : [];
      const options = keep.concat(items.map((it) => el("option", { value: byId ? it.id : it.name, text: it.name })));
      if (current && !items.some((it) => (byId ? it.id : it.name) === current)) {
        options.push(el("option", { value: current, text: current + (items.length ? " (нет в МойСклад)" : "") }));
      }
      select.replaceChildren(...options);
      select.value = current;
    }
  }

  load();
  loadOptions();
})();
