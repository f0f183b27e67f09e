/* The journal page: filters from the form (and the URL), pages of rows with "Ещё" (keyset: before_id),
 * rows expandable to the request and response, "Отправить снова" for a call. */
"use strict";

(function () {
  const { api, errorText, el, showErrors, clearErrors, say, fmtTime } = window.MS;
  const ent = encodeURIComponent(window.MS.ent);
  const list = document.getElementById("journal");
  const form = document.getElementById("filters");
  if (!list || !form) return;
  const state = document.getElementById("journal-state");
  const more = document.getElementById("btn-more");
  const STATUS = { success: "успех", error: "ошибка", skipped: "пропущено" };
  let nextBefore = null;

  function params() {
    const p = new URLSearchParams();
    for (const name of ["phone", "call_id", "event_type", "status"]) {
      const value = form.elements[name].value.trim();
      if (value) p.set(name, value);
    }
    for (const name of ["since", "until"]) {  // datetime-local is the browser's local time: send it with a zone
      const value = form.elements[name].value;
      if (value) {
        const d = new Date(value);
        p.set(name, isNaN(d) ? value : d.toISOString());
      }
    }
    return p;
  }

  function pretty(value) {
    if (value === null || value === undefined) return "—";
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function item(row) {
    const summary = el("summary", {}, [
      el("time", { datetime: row.created_at, text: fmtTime(row.created_at) }),
      el("span", { class: "ev", text: row.event_type }),
      el("span", { class: "badge st-" + row.status, text: STATUS[row.status] || row.status }),
      row.phone ? el("span", { class: "ph", text: row.phone }) : null,
      row.duration_ms !== null && row.duration_ms !== undefined ? el("span", { class: "dur", text: row.duration_ms + " мс" }) : null,
      row.error ? el("span", { class: "err", text: row.error }) : null,
    ]);
    const actions = [];
    if (row.call_unique_id) {
      // A test call from the admin page is not a PBX call: there is nothing to process again.
      const isTest = row.call_unique_id.startsWith("ms-admin-test-");
      const link = el("a", { href: "?enterprise_number=" + ent + "&call_id=" + encodeURIComponent(row.call_unique_id),
                             text: "Звонок " + row.call_unique_id });
      const resend = isTest ? null : el("button", { type: "button", class: "secondary small",
                                                    dataset: { resend: row.call_unique_id } }, ["Отправить снова"]);
      actions.push(link, resend, el("span", { class: "hint resend-state", "aria-live": "polite" }));
    }
    const body = el("div", { class: "entry-body" }, [
      el("p", { class: "entry-actions" }, actions),
      el("h3", { text: "Запрос" }), el("pre", { text: pretty(row.request) }),
      el("h3", { text: "Ответ" }), el("pre", { text: pretty(row.response) }),
    ]);
    return el("li", { class: "entry st-" + row.status, dataset: { id: row.id } }, [el("details", {}, [summary, body])]);
  }

  async function load(append) {
    const p = params();
    if (append && nextBefore) p.set("before_id", nextBefore);
    say(state, "Загрузка…");
    more.hidden = true;
    const res = await api("GET", "/ms-admin/journal/" + ent + ".json?" + p.toString());
    if (!res.ok) {
      if (res.status === 422) showErrors(form, res.data.error.details);
      say(state, errorText(res), "bad");
      return;
    }
    clearErrors(form);
    const rows = res.data.items.map(item);
    if (append) list.append(...rows); else list.replaceChildren(...rows);
    nextBefore = res.data.next_before_id;
    more.hidden = !nextBefore;
    say(state, list.children.length ? "Записей показано: " + list.children.length + (nextBefore ? " (есть ещё)" : "")
                                    : "Записей нет.");
  }

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-resend]");
    if (!button) return;
    const note = button.parentElement.querySelector(".resend-state");
    button.disabled = true;
    const res = await api("POST", "/ms-admin/journal/" + ent + "/resend", { call_id: button.dataset.resend });
    button.disabled = false;
    say(note, res.ok ? "Поставлено в очередь: звонок обработается ещё раз." : errorText(res), res.ok ? "ok" : "bad");
  });
  more.addEventListener("click", () => load(true));
  load(false);
})();
