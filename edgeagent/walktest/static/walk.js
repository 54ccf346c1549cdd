// The walk test page: polls state.json with the page's own token and redraws.
// Read-only: it never sends anything but GETs. Text goes in with textContent only.
"use strict";
const token = new URLSearchParams(location.search).get("t") || "";
const q = "?t=" + encodeURIComponent(token);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function sensorItem(s, phase) {
  const state = !s.enabled ? "disabled" : s.fired ? "fired" : (phase === "walking" ? "waiting" : "silent");
  const li = el("li", state);
  li.dataset.sensor = s.key;
  li.dataset.state = state;
  li.append(el("span", "mark", {fired: "✓", silent: "✗", waiting: "…", disabled: "-"}[state]));
  li.append(el("span", "name", s.key));
  li.append(el("span", "room", s.room || "-"));
  if (s.fired) li.append(el("span", "when", s.fired_at + " · " + s.last));
  return li;
}

let ended = "The walk test has ended or this link expired; the last state stays on screen.";

function render(doc) {
  const labels = doc.labels || {};
  if (doc.lang) document.documentElement.lang = doc.lang.replace("_", "-");
  document.querySelectorAll("[data-label]").forEach(node => {
    if (labels[node.dataset.label]) node.textContent = labels[node.dataset.label];
  });
  if (labels.ended) ended = labels.ended;
  document.getElementById("home").textContent = doc.home + " (" + doc.timezone + ")";
  const status = document.getElementById("status");
  status.textContent = labels["phase_" + doc.phase] || doc.phase;
  const fired = doc.sensors.filter(s => s.fired).length;
  const total = doc.sensors.filter(s => s.enabled).length;
  document.getElementById("count").textContent = "(" + fired + "/" + total + ")";
  document.getElementById("sensors").replaceChildren(...doc.sensors.map(s => sensorItem(s, doc.phase)));
  const walked = doc.phase !== "walking";
  document.getElementById("silent-section").hidden = !walked;
  document.getElementById("silent").replaceChildren(...doc.silent.map(k => el("li", "silent", k)));
  document.getElementById("alarms-section").hidden = doc.alarms.length === 0;
  document.getElementById("alarms").replaceChildren(...doc.alarms.map(a => {
    const li = el("li", a.stage === "resolved" ? "fired" : (a.stage === "failed" ? "silent" : ""),
                  a.severity + ": " + a.stage + (a.error ? " — " + a.error : ""));
    li.dataset.alarm = a.severity;
    return li;
  }));
  document.getElementById("report-section").hidden = !doc.result;
  if (doc.result) {
    const result = document.getElementById("result");
    result.className = doc.result;
    result.textContent = doc.result.toUpperCase();
    document.getElementById("files").replaceChildren(...doc.report_files.map(f => el("li", "", f)));
    document.getElementById("report").textContent = doc.report_text || "";
  }
}

async function poll() {
  try {
    const answer = await fetch("state.json" + q, {cache: "no-store"});
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    render(await answer.json());
  } catch (err) {
    const status = document.getElementById("status");
    status.className = "ended";
    status.textContent = ended;
    return;
  }
  setTimeout(poll, 1000);
}

poll();
