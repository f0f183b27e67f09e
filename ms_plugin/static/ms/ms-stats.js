/* Figures for the last hour or day and a small bar chart, drawn as inline SVG from the stats JSON. */
"use strict";

(function () {
  const { api, errorText, el } = window.MS;
  const ent = encodeURIComponent(window.MS.ent);
  const figures = document.getElementById("figures");
  const chart = document.getElementById("chart");
  if (!figures || !chart) return;
  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function figure(label, value) {
    return el("div", {}, [el("dt", { text: label }), el("dd", { text: value === null || value === undefined ? "—" : value })]);
  }

  function pct(rate) { return rate === null || rate === undefined ? null : (rate * 100).toFixed(1) + " %"; }
  function ms(value) { return value === null || value === undefined ? null : value + " мс"; }

  function draw(series, bucketS) {
    const W = 600, H = 160, pad = 24, n = series.length || 1;
    const max = Math.max(1, ...series.map((p) => Math.max(p.calls, p.requests)));
    const bw = (W - pad * 2) / n;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + (H + 20), role: "img", class: "chart-svg" });
    root.append(svg("title", {}, "Звонки (синие) и запросы к МойСклад (серые), ошибки красным"));
    const y = (v) => H - (H - pad) * (v / max);
    series.forEach((p, i) => {
      const x = pad + i * bw;
      root.append(svg("rect", { x: x + bw * 0.1, y: y(p.requests), width: bw * 0.4, height: H - y(p.requests),
                                class: "bar-req" }, undefined));
      root.append(svg("rect", { x: x + bw * 0.5, y: y(p.calls), width: bw * 0.4, height: H - y(p.calls),
                                class: "bar-calls" }));
      if (p.errors) {
        root.append(svg("rect", { x: x + bw * 0.1, y: y(p.errors), width: bw * 0.4, height: H - y(p.errors),
                                  class: "bar-err" }));
      }
      const every = Math.ceil(n / 6);
      if (i % every === 0) {
        const t = new Date(p.start);
        const label = t.toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit" });
        root.append(svg("text", { x: x + bw / 2, y: H + 14, class: "axis", "text-anchor": "middle" }, label));
      }
    });
    root.append(svg("line", { x1: pad, x2: W - pad, y1: H, y2: H, class: "axis-line" }));
    root.append(svg("text", { x: 2, y: pad, class: "axis" }, max));
    const legend = el("p", { class: "legend" }, [
      el("span", { class: "key calls", text: "звонки" }), " ",
      el("span", { class: "key req", text: "запросы к МойСклад" }), " ",
      el("span", { class: "key err", text: "ошибки" }),
      " · столбец = " + (bucketS >= 3600 ? bucketS / 3600 + " ч" : bucketS / 60 + " мин"),
    ]);
    chart.replaceChildren(root, legend);
  }

  async function load(windowName) {
    const res = await api("GET", "/ms-admin/stats/" + ent + "?window=" + windowName);
    if (!res.ok) { figures.replaceChildren(el("dd", { class: "bad", text: errorText(res) })); return; }
    const s = res.data;
    figures.replaceChildren(
      figure("Звонков обработано", s.calls_processed),
      figure("Пропущенных", s.calls.missed),
      figure("Карточек показано", s.cards_shown),
      figure("Заказов создано", s.orders_created),
      figure("Задач создано", s.tasks_created),
      figure("Клиентов создано", s.clients_created),
      figure("Запросов к МойСклад", s.moysklad.requests),
      figure("Успешных запросов", pct(s.moysklad.success_rate)),
      figure("Задержка МойСклад p50", ms(s.moysklad.latency_ms.p50)),
      figure("Задержка МойСклад p95", ms(s.moysklad.latency_ms.p95)),
    );
    draw(s.series, s.bucket_s);
  }

  document.querySelectorAll(".seg-btn[data-window]").forEach((button) => {
    button.addEventListener("click", () => {
      document.querySelectorAll(".seg-btn").forEach((b) => b.classList.toggle("active", b === button));
      load(button.dataset.window);
    });
  });
  load("1h");
})();
