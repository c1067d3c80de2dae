// metacot view: the run index, and per problem the tree, the replay of its walk and the training string.
// Every text from the data goes in with textContent: steps and errors are shown, never parsed as markup.
"use strict";

const DATA = JSON.parse(document.getElementById("data").textContent);
const RENDER_BUDGET = 2000; // nodes drawn when a tree opens; deeper subtrees are drawn when expanded

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function fmt(x) {
  return x === null || x === undefined ? "" : Number(x).toFixed(2);
}

// ---------- index ----------

function buildIndex() {
  const runs = DATA.runs;
  const byId = runs.map((run) => new Map(run.rows.map((row) => [row.id, row])));
  const box = el("section", "index");
  const controls = el("div", "controls");
  const filter = el("input");
  filter.placeholder = "filter problem ids";
  filter.id = "filter";
  const which = el("select");
  which.id = "which";
  for (const option of ["all", "solved", "unsolved", "failed"]) which.append(el("option", "", option));
  controls.append(filter, which, el("span", "count"));
  const columns = [["problem", "id"], ["search", "search"], ["solved", "solved"], ["nodes", "nodes"], ["backtracks", "backtracks"]];
  const table = el("table", "rows");
  const head = el("tr");
  const heads = [];
  runs.forEach((run, r) => {
    for (const [label, key] of columns) {
      if (r > 0 && key === "id") continue;
      const th = el("th", "sortable", runs.length > 1 ? `${label} (${run.name})` : label);
      th.dataset.key = key;
      th.dataset.run = r;
      heads.push(th);
      head.append(th);
    }
  });
  table.append(head);
  const body = el("tbody");
  table.append(body);
  let order = runs[0].rows.slice();
  let sortKey = null;
  let ascending = true;
  function cell(row, key) {
    if (!row) return el("td", "", "");
    if (key === "id") {
      const td = el("td");
      if (row.embedded) {
        const a = el("a", "", row.id);
        a.href = "#p=" + encodeURIComponent(row.id);
        td.append(a);
      } else {
        td.append(el("span", "", row.id), el("span", "muted", " (not embedded: metacot view RUN --problem ID)"));
      }
      return td;
    }
    if (key === "solved") return el("td", row.solved ? "yes" : "no", row.failed ? "failed" : row.solved ? "yes" : "no");
    return el("td", "", row[key]);
  }
  function draw() {
    const text = filter.value.trim().toLowerCase();
    const kind = which.value;
    body.textContent = "";
    let shown = 0;
    for (const row of order) {
      if (text && !row.id.toLowerCase().includes(text)) continue;
      if (kind === "solved" && !row.solved) continue;
      if (kind === "unsolved" && row.solved) continue;
      if (kind === "failed" && !row.failed) continue;
      const tr = el("tr");
      runs.forEach((run, r) => {
        const other = r === 0 ? row : byId[r].get(row.id);
        for (const [, key] of columns) if (!(r > 0 && key === "id")) tr.append(cell(other, key));
      });
      body.append(tr);
      shown += 1;
    }
    controls.querySelector(".count").textContent = ` ${shown} of ${order.length} problems`;
  }
  for (const th of heads) {
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      const r = Number(th.dataset.run);
      ascending = sortKey === key + r ? !ascending : true;
      sortKey = key + r;
      const value = (row) => {
        const other = r === 0 ? row : byId[r].get(row.id);
        return other ? other[key] : null;
      };
      order.sort((a, b) => {
        const x = value(a);
        const y = value(b);
        const c = x === y ? 0 : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1;
        return ascending ? c : -c;
      });
      draw();
    });
  }
  filter.addEventListener("input", draw);
  which.addEventListener("change", draw);
  const summary = runs.map((run) => {
    const solved = run.rows.filter((row) => row.solved).length;
    return `${run.name}: ${run.rows.length} problems, ${solved} solved, ${run.trees.length} embedded; string format ${run.format}`;
  });
  box.append(el("p", "summary", summary.join(" · ")), controls, table);
  draw();
  return box;
}

// ---------- one tree ----------

function Pane(run, tree) {
  const c = tree.cols;
  const n = c.parent.length;
  const kids = Array.from({ length: n }, () => []);
  for (let i = 1; i < n; i++) kids[c.parent[i]].push(i);
  const onPath = new Set(tree.solution_path);
  const rows = new Array(n); // each drawn node's row
  const boxes = new Array(n); // each drawn node's children container
  const segsOf = new Map(); // node -> its segments in the training string
  const maxVisits = c.visits.reduce((a, b) => Math.max(a, b), 1);
  const root = el("section", "pane");
  root.dataset.run = run.name;

  // tree
  function verdict(i) {
    if (c.error[i] !== null) return ["dead", "dead: " + c.error[i]];
    if (!c.terminal[i]) return null;
    if (c.correct[i] === true) return ["correct", "correct"];
    if (c.correct[i] === false) return ["wrong", "wrong"];
    return ["undecided", "undecided"];
  }
  function drawRow(i) {
    const row = el("div", "node");
    row.dataset.id = i;
    const v = verdict(i);
    if (v) row.classList.add(v[0]);
    if (onPath.has(i)) row.classList.add("on-path");
    row.style.setProperty("--shade", (Math.log1p(c.visits[i]) / Math.log1p(maxVisits)).toFixed(3));
    const toggle = el("span", "toggle", kids[i].length ? "▾" : "·");
    row.append(toggle, el("span", "path", c.path[i]), el("span", "step", c.step[i] || "(root)"));
    if (c.state[i] !== null) row.append(el("span", "state", "→ " + c.state[i]));
    if (c.score[i] !== null) row.append(el("span", "tag", "PRM " + fmt(c.score[i])));
    if (c.rollouts[i] !== null) row.append(el("span", "tag", `MC ${c.successes[i]}/${c.rollouts[i]}`));
    if (c.visits[i]) row.append(el("span", "tag", `N=${c.visits[i]} Q=${fmt(c.value[i])}`));
    if (v) row.append(el("span", "verdict " + v[0], v[1]));
    if (c.slip[i] !== null) row.append(el("span", "tag slip", "slip: " + c.slip[i]));
    if (c.duplicates[i]) row.append(el("span", "tag", `dup ×${c.duplicates[i]}`));
    rows[i] = row;
    return row;
  }
  function drawItem(i, expand) {
    const item = el("div", "item");
    item.append(drawRow(i));
    if (kids[i].length) {
      const box = el("div", "kids");
      box.hidden = true;
      boxes[i] = box;
      item.append(box);
      if (expand(i)) open(i, expand);
      else rows[i].firstChild.textContent = "▸";
    }
    return item;
  }
  function open(i, expand) {
    const box = boxes[i];
    if (!box) return;
    if (!box.childElementCount) for (const k of kids[i]) box.append(drawItem(k, expand || (() => false)));
    box.hidden = false;
    rows[i].firstChild.textContent = "▾";
  }
  function close(i) {
    if (!boxes[i]) return;
    boxes[i].hidden = true;
    rows[i].firstChild.textContent = "▸";
  }
  function reveal(i) {
    const up = [];
    for (let a = c.parent[i]; a !== -1; a = c.parent[a]) up.push(a);
    for (const a of up.reverse()) open(a);
  }
  const treeBox = el("div", "tree");
  // open level by level while the drawn nodes stay within the budget; the solution path is always open
  const depthOf = new Int32Array(n);
  const widths = [];
  for (let i = 0; i < n; i++) {
    depthOf[i] = i ? depthOf[c.parent[i]] + 1 : 0;
    widths[depthOf[i]] = (widths[depthOf[i]] || 0) + 1;
  }
  let openDepth = 0;
  for (let d = 0, drawn = 1; d + 1 < widths.length && drawn + widths[d + 1] <= RENDER_BUDGET; d++) {
    drawn += widths[d + 1];
    openDepth = d + 1;
  }
  treeBox.append(drawItem(0, (i) => depthOf[i] < openDepth || (onPath.has(i) && depthOf[i] < openDepth + 1)));
  for (const i of tree.solution_path) reveal(i);
  treeBox.addEventListener("click", (event) => {
    const toggle = event.target.closest(".toggle");
    if (!toggle) return;
    const i = Number(toggle.parentNode.dataset.id);
    if (boxes[i] && !boxes[i].hidden) close(i);
    else open(i);
  });

  // replay of the walk
  const replay = el("div", "replay");
  const first = el("button", "first", "start");
  const prev = el("button", "prev", "◀ prev");
  const next = el("button", "next", "next ▶");
  const slider = el("input", "slider");
  slider.type = "range";
  slider.min = -1;
  slider.max = tree.moves.length - 1;
  slider.value = -1;
  const status = el("span", "status");
  const log = el("ol", "backtracks");
  replay.append(first, prev, next, slider, status);
  let pos = -1;
  let count = 0;
  let current = null;
  function mark(i, cls, on) {
    if (rows[i]) rows[i].classList.toggle(cls, on);
    for (const seg of segsOf.get(i) || []) seg.classList.toggle(cls, on);
  }
  function apply(k) {
    const [kind, i] = tree.moves[k];
    if (kind === "backtrack") {
      count += 1;
      const item = el("li", "", `move ${k + 1}: back to ${c.path[i]} ${c.state[i] || ""}`);
      log.append(item);
      reveal(i);
      rows[i].classList.add("backtracked");
    } else {
      reveal(i);
      rows[i].classList.add("seen");
    }
  }
  function show(k) {
    if (k < pos) {
      for (const row of treeBox.querySelectorAll(".seen, .backtracked")) row.classList.remove("seen", "backtracked");
      log.textContent = "";
      count = 0;
      pos = -1;
    }
    while (pos < k) apply(++pos);
    if (current !== null) mark(current, "current", false);
    current = pos >= 0 ? tree.moves[pos][1] : null;
    const kind = pos >= 0 ? tree.moves[pos][0] : "";
    if (current !== null) {
      mark(current, "current", true);
      rows[current].scrollIntoView({ block: "nearest" });
    }
    slider.value = pos;
    root.dataset.current = current === null ? "" : current;
    root.dataset.kind = kind;
    root.dataset.backtracks = count;
    status.textContent =
      pos < 0
        ? `${tree.moves.length} moves, ${tree.backtracks} backtracks`
        : `move ${pos + 1}/${tree.moves.length}: ${kind === "backtrack" ? "BACKTRACK to" : "step to"} ${c.path[current]} · backtracks ${count}/${tree.backtracks}`;
    status.classList.toggle("is-backtrack", kind === "backtrack");
  }
  first.addEventListener("click", () => show(-1));
  prev.addEventListener("click", () => show(Math.max(-1, pos - 1)));
  next.addEventListener("click", () => show(Math.min(tree.moves.length - 1, pos + 1)));
  slider.addEventListener("input", () => show(Number(slider.value)));

  // training string
  const text = el("div", "string");
  if (tree.segments.length) {
    for (const [part, kind, node] of tree.segments) {
      const seg = el("span", "seg " + kind, part);
      if (node !== null) {
        seg.dataset.node = node;
        if (!segsOf.has(node)) segsOf.set(node, []);
        segsOf.get(node).push(seg);
        if (onPath.has(node)) seg.classList.add("on-path");
      }
      text.append(seg);
    }
  } else {
    text.append(el("span", "seg", tree.completion));
  }
  text.addEventListener("mouseover", (event) => {
    const seg = event.target.closest(".seg");
    if (!seg || seg.dataset.node === undefined) return;
    const i = Number(seg.dataset.node);
    reveal(i);
    light(i);
    rows[i].scrollIntoView({ block: "nearest" });
  });
  treeBox.addEventListener("mouseover", (event) => {
    const row = event.target.closest(".node");
    if (!row) return;
    const i = Number(row.dataset.id);
    light(i);
    const segs = segsOf.get(i);
    if (segs) segs[0].scrollIntoView({ block: "nearest" });
  });
  let lit = null;
  function light(i) {
    if (lit !== null) mark(lit, "lit", false);
    lit = i;
    mark(i, "lit", true);
    root.dataset.lit = i;
  }

  const solved = tree.solution_path.length ? "solved" : "unsolved";
  const facts = `${tree.search} · ${n} nodes · ${solved} · ${tree.moves.length} moves, ${tree.backtracks} backtracks`;
  const head = el("div", "pane-head");
  head.append(el("h2", "", `${run.name}: ${tree.id}`), el("div", "facts", facts));
  if (tree.failed) head.append(el("div", "verdict dead", "search failed: " + tree.failed));
  head.append(el("pre", "prompt", tree.prompt));
  const expandAll = el("button", "expand-all", "expand all");
  expandAll.addEventListener("click", () => {
    for (let i = 0; i < n; i++) if (kids[i].length) open(i);
  });
  const collapseAll = el("button", "", "collapse all");
  collapseAll.addEventListener("click", () => {
    for (let i = 1; i < n; i++) close(i);
  });
  const legend = el("div", "legend");
  for (const [cls, label] of [["on-path", "solution path"], ["correct", "correct"], ["dead", "dead"], ["wrong", "wrong"], ["current", "replay: now"], ["seen", "visited"], ["backtracked", "backtracked to"]]) {
    legend.append(el("span", "node " + cls, label));
  }
  const columns = el("div", "columns");
  const left = el("div", "col");
  left.append(el("div", "tools"), treeBox);
  left.firstChild.append(expandAll, collapseAll, legend);
  const right = el("div", "col");
  const stringHead = `training string (${tree.format})` + (tree.in_traces ? "" : " — not in the run's traces (its options leave this tree out)");
  right.append(el("h3", "", stringHead), text, el("h3", "", "backtracks so far"), log);
  columns.append(left, right);
  root.append(head, replay, columns);
  show(-1);
  return root;
}

// ---------- pages ----------

const views = new Map();
const main = document.getElementById("main");
const where = document.getElementById("where");

function problemView(id) {
  if (views.has(id)) return views.get(id);
  const box = el("div", "problem");
  for (const run of DATA.runs) {
    const tree = run.trees.find((t) => t.id === id);
    if (tree) box.append(Pane(run, tree));
    else box.append(el("section", "pane missing", `${run.name}: no embedded tree for ${id}`));
  }
  box.classList.toggle("compare", DATA.runs.length > 1);
  views.set(id, box);
  return box;
}

function decodedHash() {
  // a malformed escape (#p=%E0%A4%A) is shown as typed, not a thrown URIError and a blank page
  const raw = location.hash.slice(1);
  try {
    return decodeURIComponent(raw);
  } catch (error) {
    return raw;
  }
}

function route() {
  const started = performance.now();
  const hash = decodedHash();
  main.textContent = "";
  const rows = DATA.runs[0].rows;
  const single = rows.length === 1 && DATA.runs[0].trees.length === 1;
  if (hash.startsWith("p=") || single) {
    const id = single && !hash.startsWith("p=") ? rows[0].id : hash.slice(2);
    where.textContent = "› " + id;
    main.append(problemView(id));
  } else {
    where.textContent = "› index";
    if (!views.has("")) views.set("", buildIndex());
    main.append(views.get(""));
  }
  document.body.dataset.rendered = (performance.now() - started).toFixed(1);
  if (!document.body.dataset.openedAt) document.body.dataset.openedAt = performance.now().toFixed(1);
  document.body.dataset.ready = "1";
}

window.addEventListener("hashchange", route);
route();
