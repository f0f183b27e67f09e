/* Employees table: the account's employees with their PBX extensions, warnings, mapping edits and a
 * test call per employee. Only changed extensions are sent (a merge), so nothing else is ever wiped. */
"use strict";

(function () {
  const { api, errorText, el, say } = window.MS;
  const ent = encodeURIComponent(window.MS.ent);
  const table = document.getElementById("emp-table");
  if (!table) return;
  const body = table.querySelector("tbody");
  const state = document.getElementById("emp-state");
  const mapState = document.getElementById("map-state");
  let explicit = {};  // the stored mapping {ext: employee id}

  function splitExts(text) {
    return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
  }

  function row(emp) {
    const mine = Object.keys(explicit).filter((ext) => explicit[ext] === emp.id);
    const auto = emp.auto_extensions || [];
    const input = el("input", {
      type: "text", inputmode: "numeric", value: mine.join(", "), "aria-label": "Добавочные АТС",
      placeholder: auto.length ? auto.join(", ") + " (авто)" : "нет", dataset: { employee: emp.id },
    });
    const warnings = el("ul", { class: "warnings" },
      (emp.warnings || []).map((w) => el("li", { dataset: { code: w.code }, text: w.message })));
    const target = emp.pbx_extensions[0];
    const test = el("button", {
      type: "button", class: "secondary small", disabled: !target, dataset: { testExt: target || "" },
      title: target ? "Показать тестовую карточку на добавочном " + target : "Нет добавочного",
    }, ["Тестовый звонок"]);
    const name = el("td", { class: "emp-name" }, [
      el("strong", { text: emp.name || "Неизвестный сотрудник" }),
      emp.uid ? el("small", { text: emp.uid }) : null,
      emp.known ? null : el("small", { text: emp.id }),
      emp.archived ? el("span", { class: "badge muted", text: "в архиве" }) : null,
    ]);
    const tr = el("tr", { dataset: { employee: emp.id } }, [
      name,
      el("td", { "data-label": "Доб. в МойСклад", text: emp.ms_extension || "—" }),
      el("td", { "data-label": "Доб. АТС" }, [input]),
      el("td", { "data-label": "Предупреждения" }, [warnings]),
      el("td", {}, [test, el("span", { class: "hint test-state", "aria-live": "polite" })]),
    ]);
    if ((emp.warnings || []).length) tr.classList.add("warn");
    return tr;
  }

  function render(data) {
    explicit = data.employee_mapping || {};
    body.replaceChildren(...data.employees.map(row));
    const problems = [];
    if (!data.phone_api_ok) problems.push("Phone API недоступен или не настроен");
    if (!data.json_api_ok) problems.push("основной API недоступен или не настроен (имён может не быть)");
    const when = data.refreshed_at ? "Обновлено: " + window.MS.fmtTime(data.refreshed_at) + ". " : "";
    say(state, data.error || (when + (problems.length ? problems.join("; ") + "." : "")),
        data.error || problems.length ? "bad" : null);
    if (!data.employees.length) say(state, "Сотрудников нет: проверьте подключение и нажмите «Обновить из МойСклад».");
  }

  async function load(refresh) {
    say(state, refresh ? "Обновляю из МойСклад…" : "Загрузка…");
    const res = await api("GET", "/ms-admin/employees/" + ent + (refresh ? "?refresh=1" : ""));
    if (res.ok) render(res.data);
    else say(state, errorText(res), "bad");
  }

  async function saveMapping() {
    const wanted = {};
    const duplicates = [];
    for (const input of body.querySelectorAll("input[data-employee]")) {
      for (const ext of splitExts(input.value)) {
        if (wanted[ext] && wanted[ext] !== input.dataset.employee) duplicates.push(ext);
        wanted[ext] = input.dataset.employee;
      }
    }
    if (duplicates.length) {
      say(mapState, "Добавочный " + [...new Set(duplicates)].join(", ") + " указан у двух сотрудников.", "bad");
      return;
    }
    const change = {};
    for (const ext of Object.keys(explicit)) if (!(ext in wanted)) change[ext] = null;
    for (const [ext, id] of Object.entries(wanted)) if (explicit[ext] !== id) change[ext] = id;
    if (!Object.keys(change).length) { say(mapState, "Изменений нет."); return; }
    say(mapState, "Сохраняю…");
    const res = await api("PUT", "/ms-admin/employees/" + ent + "/mapping", { mapping: change, replace: false });
    if (res.ok) { render(res.data); say(mapState, "Сопоставление сохранено.", "ok"); return; }
    const details = res.data && res.data.error && res.data.error.details;
    const perExt = details && details.mapping && typeof details.mapping === "object" ? details.mapping : null;
    say(mapState, perExt
      ? Object.entries(perExt).map(([ext, msg]) => ext + ": " + [].concat(msg).join(" ")).join("; ")
      : errorText(res), "bad");
  }

  async function testCall(button) {
    const note = button.parentElement.querySelector(".test-state");
    button.disabled = true;
    say(note, "Звоню…");
    const res = await api("POST", "/ms-admin/test-call/" + ent, { extension: button.dataset.testExt });
    button.disabled = false;
    if (res.ok) {
      say(note, "Карточка показана, скроется через " + Math.round(res.data.hide_after_s) + " с.", "ok");
    } else {
      const details = res.data && res.data.error && res.data.error.details;
      say(note, details && details.extension ? [].concat(details.extension).join(" ") : errorText(res), "bad");
    }
  }

  body.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-test-ext]");
    if (button) testCall(button);
  });
  document.getElementById("btn-refresh-emp").addEventListener("click", () => load(true));
  document.getElementById("btn-save-map").addEventListener("click", saveMapping);
  load(false);
})();
