/**
 * The page's script, as plain browser JavaScript (no build step). It follows the server-sent
 * events of `/events` (`snapshot`, `circuit`, `removed`, `redis`), draws one card per circuit and
 * a feed of transitions, refreshes relative times every second, and, when the server allows
 * control, posts isolate / disable / reset. Circuit names come from Redis: they are only ever set
 * as text (`textContent`), never parsed as HTML.
 * @module
 */

/** The script (it reads its config from the `#config` JSON element). */
export const CLIENT_SCRIPT = String.raw`
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("config").textContent);
  var STATES = ["opened", "half-opened", "isolated", "disabled", "closed"];
  var circuits = new Map();
  var offset = 0;
  var redis = { available: true, error: null };
  var connected = false;
  var list = document.getElementById("circuits");

  function now() { return Date.now() + offset; }
  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function round(n) { return Math.round(n * 100) / 100; }
  function duration(s) {
    if (s < 120) return round(s) + "s";
    if (s < 7200) return round(s / 60) + "m";
    return round(s / 3600) + "h";
  }
  function elapsed(ms) {
    var v = Math.max(0, Math.round(ms));
    if (v < 1000) return v + "ms";
    var s = Math.floor(v / 1000);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  }
  function percent(rate) { return Math.round(rate * 1000) / 10 + "%"; }
  function clock(ms) {
    var d = new Date(ms);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }
  function policies(c) {
    var out = ["ttl " + duration(c.ttl), c.halfOpenMaxCalls + (c.halfOpenMaxCalls === 1 ? " probe" : " probes") + " at once"];
    if (c.failureRate) out.push("failure rate ≥ " + percent(c.failureRate.rate) + " of ≥ " + c.failureRate.minimumCalls + " calls in " + duration(c.failureRate.window));
    if (c.slowCall) out.push("slow (> " + duration(c.slowCall.duration) + ") ≥ " + percent(c.slowCall.rate));
    if (c.backoff) out.push("backoff ×" + c.backoff.multiplier + " up to " + duration(c.backoff.maxTtl));
    return out.join(" · ");
  }
  /** A span whose text is "<prefix><time since at><suffix>", refreshed every second. */
  function since(at, prefix, suffix, future) {
    var span = el("span", "since");
    span.dataset.at = String(at);
    span.dataset.prefix = prefix;
    span.dataset.suffix = suffix || "";
    if (future) span.dataset.future = "1";
    paintSince(span);
    return span;
  }
  function paintSince(span) {
    var at = Number(span.dataset.at);
    var text = span.dataset.future ? (at <= now() ? "now" : "in " + elapsed(at - now())) : elapsed(now() - at) + " ago";
    span.textContent = span.dataset.prefix + text + span.dataset.suffix;
  }
  function lastEntry(oc) {
    var t = oc.transitions;
    for (var i = t.length - 1; i >= 0; i--) if (t[i].to === oc.info.state && t[i].from !== null) return t[i];
    return null;
  }
  function row(label, content) {
    var r = el("div", "row");
    r.appendChild(el("span", "label", label));
    if (typeof content === "string") r.appendChild(el("span", "value", content));
    else r.appendChild(content);
    return r;
  }
  function meter(value, max) {
    var m = el("div", "meter" + (value >= max ? " full" : value === 0 ? " empty" : ""));
    var fill = el("div");
    fill.style.width = Math.min(100, max > 0 ? (value / max) * 100 : 0) + "%";
    m.appendChild(fill);
    return m;
  }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "es"); }
  /** The quorum as the CLI says it: "2 processes (or 25% of active callers)". */
  function quorumPolicy(q) {
    return plural(q ? q.processes : 1, "process") + (q && q.fraction !== undefined ? " (or " + percent(q.fraction) + " of active callers)" : "");
  }
  /** "host:pid" (a default processName) as "host (pid N)"; any other name as it is. */
  function processLabel(name) {
    var m = /^(.+):(\d+)$/.exec(name);
    return m ? m[1] + " (pid " + m[2] + ")" : name;
  }
  function byProcessName(a, b) { return a.localeCompare(b, "en", { numeric: true }); }
  /** As many items as fit in about width characters, then "and N more". */
  function shortList(items, width) {
    var shown = [], length = 0;
    for (var i = 0; i < items.length; i++) {
      var added = (shown.length ? 2 : 0) + items[i].length;
      if (shown.length && length + added > width) break;
      shown.push(items[i]);
      length += added;
    }
    var rest = items.length - shown.length;
    return shown.join(", ") + (rest > 0 ? " and " + rest + " more" : "");
  }
  /** The rows of a circuit with a quorum: needed now, active callers, processes open for themselves. */
  function quorumRows(card, info) {
    var q = info.quorum;
    var needed = row("quorum", quorumPolicy(info.config.quorum) + ": " + q.effective + " needed now");
    needed.classList.add("quorum");
    card.appendChild(needed);
    var names = q.activeCallers.slice().sort(byProcessName);
    var callers = row("callers", names.length ? names.length + " active: " + shortList(names, 40) : "none active");
    callers.classList.add("callers");
    callers.title = names.join("\n");
    card.appendChild(callers);
    if (q.openLocally.length === 0) return;
    var known = new Set(q.activeCallers.concat(q.openLocally.map(function (p) { return p.process; }))).size;
    var local = el("div", "row local");
    local.appendChild(el("span", "label", "local"));
    var value = el("span", "value", q.openLocally.length + " of " + plural(known, "process") + " open locally: ");
    q.openLocally.slice(0, 3).forEach(function (p, i) {
      if (i > 0) value.appendChild(document.createTextNode("; "));
      var who = el("span", "process", processLabel(p.process));
      who.title = p.process;
      value.appendChild(who);
      value.appendChild(since(p.retryAt, ", probe ", "", true));
    });
    if (q.openLocally.length > 3) value.appendChild(document.createTextNode(" and " + (q.openLocally.length - 3) + " more"));
    local.appendChild(value);
    card.appendChild(local);
  }
  function transitionText(t) { return t.from === null ? "seen " + t.to : t.from === t.to ? t.to + " again" : t.from + " → " + t.to; }

  function card(oc) {
    var info = oc.info;
    var card = el("article", "circuit state-" + info.state);
    card.dataset.circuit = info.name;
    card.dataset.state = info.state;
    var top = el("div", "top");
    var name = el("h2", "name", info.name);
    name.title = info.name;
    top.appendChild(name);
    top.appendChild(el("span", "badge state-" + info.state, info.state));
    card.appendChild(top);

    var failures = el("div", "row failures");
    failures.appendChild(el("span", "label", "failures"));
    failures.appendChild(meter(info.failureCount, info.config.threshold));
    failures.appendChild(el("span", "num", info.failureCount + " / " + info.config.threshold));
    card.appendChild(failures);

    if (info.window) {
      var w = info.window;
      var rate = w.calls > 0 ? " (" + percent(w.failures / w.calls) + " failed)" : "";
      card.appendChild(row("window", w.calls + " calls · " + w.failures + " failed · " + w.slow + " slow" + rate));
    }
    card.appendChild(row("config", policies(info.config)));
    if (info.quorum) quorumRows(card, info);

    var when = el("span", "value when");
    var entry = lastEntry(oc);
    if (info.state === "opened") {
      when.appendChild(since(info.openedAt, "opened "));
      when.appendChild(document.createTextNode(" · "));
      when.appendChild(since(info.retryAt, "probe ", "", true));
    } else if (info.state === "half-opened") {
      when.appendChild(document.createTextNode(info.probes + " / " + info.config.halfOpenMaxCalls + " probes running · "));
      when.appendChild(since(info.openedAt, "opened "));
    } else if (entry) {
      when.appendChild(since(entry.at, info.state + " "));
    } else {
      when.textContent = info.state;
    }
    card.appendChild(row("since", when));

    var timeline = el("ol", "timeline");
    timeline.setAttribute("aria-label", "transitions of " + info.name);
    for (var i = oc.transitions.length - 1; i >= 0; i--) {
      var t = oc.transitions[i];
      var li = el("li", "state-" + t.to);
      var time = el("time", null, clock(t.at));
      time.dateTime = new Date(t.at).toISOString();
      li.appendChild(time);
      li.appendChild(el("span", "dot"));
      li.appendChild(el("span", null, transitionText(t)));
      timeline.appendChild(li);
    }
    card.appendChild(timeline);

    if (config.allowControl) {
      var actions = el("div", "actions");
      [["isolate", "isolated"], ["disable", "disabled"], ["reset", "closed"]].forEach(function (pair) {
        var button = el("button", pair[0], pair[0]);
        button.type = "button";
        button.dataset.action = pair[0];
        // Nothing to do: isolating an isolated circuit, or resetting a clean closed one.
        button.disabled = info.state === pair[1] && (pair[0] !== "reset" || info.failureCount === 0);
        button.addEventListener("click", function () { control(info.name, pair[0], button); });
        actions.appendChild(button);
      });
      card.appendChild(actions);
    }
    return card;
  }

  function order(a, b) {
    var sa = STATES.indexOf(a.info.state), sb = STATES.indexOf(b.info.state);
    if (sa !== sb) return sa - sb;
    return a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0;
  }

  function render() {
    var all = Array.from(circuits.values()).sort(order);
    list.replaceChildren.apply(list, all.map(card));
    document.getElementById("empty").hidden = all.length > 0;
    var summary = document.getElementById("summary");
    var counts = el("div", "count");
    counts.appendChild(el("b", null, all.length));
    counts.appendChild(document.createTextNode(all.length === 1 ? "circuit" : "circuits"));
    var chips = [counts];
    STATES.forEach(function (state) {
      var n = all.filter(function (c) { return c.info.state === state; }).length;
      var chip = el("div", "count state-" + state);
      chip.dataset.count = state;
      var dot = el("span", "dot");
      dot.style.display = "inline-block";
      dot.style.marginRight = "6px";
      chip.appendChild(dot);
      chip.appendChild(el("b", null, n));
      chip.appendChild(document.createTextNode(state));
      chips.push(chip);
    });
    summary.replaceChildren.apply(summary, chips);
    var feed = [];
    all.forEach(function (c) { c.transitions.forEach(function (t) { if (t.from !== null) feed.push({ name: c.info.name, t: t }); }); });
    feed.sort(function (a, b) { return b.t.at - a.t.at; });
    var items = feed.slice(0, 40).map(function (f) {
      var li = el("li", "state-" + f.t.to);
      li.appendChild(el("time", null, clock(f.t.at)));
      li.appendChild(el("span", "dot"));
      var what = el("div", "what");
      var who = el("div", "who", f.name);
      who.title = f.name;
      what.appendChild(who);
      what.appendChild(el("div", "change", transitionText(f.t)));
      li.appendChild(what);
      return li;
    });
    var feedList = document.getElementById("feed");
    feedList.replaceChildren.apply(feedList, items);
    renderStatus();
  }

  function renderStatus() {
    var status = document.getElementById("status");
    if (!connected) { status.className = "status connecting"; status.textContent = "reconnecting…"; }
    else if (!redis.available) { status.className = "status down"; status.textContent = "Redis unreachable: " + (redis.error || ""); }
    else { status.className = "status live"; status.textContent = "live"; }
  }

  function tick() { document.querySelectorAll(".since").forEach(paintSince); }

  function toast(text) {
    var t = document.getElementById("toast");
    t.textContent = text;
    setTimeout(function () { if (t.textContent === text) t.textContent = ""; }, 6000);
  }

  function control(name, action, button) {
    button.disabled = true;
    fetch("api/circuits/" + encodeURIComponent(name) + "/" + action, { method: "POST", headers: { "x-purgatory-control": "1" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || response.statusText);
        });
      })
      .catch(function (error) { toast(action + " " + name + ": " + error.message); button.disabled = false; });
  }

  function data(event) {
    var d = JSON.parse(event.data);
    if (typeof d.now === "number") offset = d.now - Date.now();
    return d;
  }

  var source = new EventSource("events");
  source.addEventListener("snapshot", function (event) {
    var d = data(event);
    circuits = new Map(d.circuits.map(function (c) { return [c.info.name, c]; }));
    redis = d.redis;
    connected = true;
    render();
  });
  source.addEventListener("circuit", function (event) {
    var d = data(event);
    circuits.set(d.circuit.info.name, d.circuit);
    render();
  });
  source.addEventListener("removed", function (event) {
    circuits.delete(data(event).name);
    render();
  });
  source.addEventListener("redis", function (event) {
    redis = data(event).status;
    renderStatus();
  });
  source.addEventListener("open", function () { connected = true; renderStatus(); });
  source.addEventListener("error", function () { connected = false; renderStatus(); });
  setInterval(tick, 1000);
})();
`;
