/* veil's page: company search, the control picture, a person's footprint, the inspector's
 * alert inbox and the licence-counter screening form, over the same HTTP API as any
 * client (every call sends the key in the X-Veil-Key header; nothing is cached but the key,
 * in this tab's sessionStorage). Drawn with Cytoscape.js and its dagre layered layout. */
"use strict";

const KEY_HEADER = "X-Veil-Key";
const PAGE_SIZE = 20;
const $ = (selector) => document.querySelector(selector);

/* Labels for the fields the API returns, for the generic record view. */
const LABELS = {
  entity_id: "实体编号", name: "名称", names: "名称写法", former_names: "曾用名", uscc: "统一社会信用代码",
  region_code: "地区代码", industry_code: "行业代码", status: "状态", established: "成立日期",
  rule: "规则", rule_id: "规则", legal_basis: "法律依据", record: "触发记录", record_id: "记录编号",
  source: "来源", sources: "来源", decision_number: "决定书文号", decision_date: "决定日期",
  categories: "处罚种类", agency: "处罚机关", list: "名单", entered: "列入日期", removed: "移出日期",
  expires: "到期日期", reason: "理由", authority: "作出机关", case_number: "案号",
  window: "限制期间", start: "开始", end: "结束", window_start: "限制开始", window_end: "限制结束",
  identity: "身份关联", links: "身份关联", match_probability: "匹配概率", match_weight: "匹配权重",
  levels: "比对层级", path: "控制路径", control_path: "控制路径", role: "职务", person: "人员",
  company: "企业", valid_from: "起", valid_to: "止", look_through_share: "穿透持股比例",
  basis: "认定依据", id_masks: "证件号（遮蔽）", reviewer: "处理人", at: "时间", trigger: "触发",
  severity: "等级", raised: "生成时间", updated: "更新时间", doubts: "存疑之处",
  title: "规则名称", trigger: "触发记录", ties: "与触发记录的关联", target: "新任职务", period: "限制期限",
  how: "关联方式", records: "记录", old_mentions: "原记录中的写法", new_mentions: "新记录中的写法",
  ids_contradict: "证件号矛盾", weakest_probability: "最弱一环的匹配概率", note: "说明", from: "从",
  to: "到", mention: "记录位置", evidence: "依据", comparison: "比对项", level: "层级", tenure: "任期",
  as_of: "截至", share: "持股比例", chain: "控制链", paths: "持股路径", in_scope: "属于监管范围",
  by: "依据", control: "控制关系", kind: "类型", key: "键", reference: "文号/案号", date: "日期",
  category_raw: "原文种类", list_raw: "原文名单", slot: "位置", named_on_record: "记录中点名",
  start_inferred: "开始日期为推定", end_by_company: "随企业终止", licence_number: "许可证编号",
  in_register: "在登记册中", observed_in_office: "在任记录", first: "最早", last: "最晚",
  began_before_trigger: "任职早于触发记录", cycles_contribute: "含循环持股", id: "证件号（遮蔽）",
};
const BASIS = {
  majority_chain: "逐层过半数控股", look_through: "最大穿透持股", none: "无法认定",
};
/* The canonical values of config/vocabulary.yaml, in the words of the registers. */
const ROLE = {
  legal_rep: "法定代表人", chairman: "董事长", vice_chairman: "副董事长", executive_director: "执行董事",
  director: "董事", supervisor: "监事", manager: "经理", deputy_manager: "副总经理",
  finance_officer: "财务负责人", board_secretary: "董事会秘书", food_safety_manager: "食品安全管理员",
};
const LIST = { judgment_defaulter: "失信被执行人", serious_violation: "严重违法失信名单", abnormal_operation: "经营异常名录" };
const roleName = (role) => ROLE[role] || role;
const STATUS = { new: "新预警", acknowledged: "已知悉", confirmed: "已确认", dismissed: "已驳回" };

let key = sessionStorage.getItem("veil-key") || "";
let current = null; /* the company on screen: its reference */
let alertOnScreen = null;

function show(text) {
  const line = $("#message");
  line.textContent = text;
  line.hidden = !text;
}

async function api(method, path, body) {
  if (!key) {
    throw new Error("请先输入 API 密钥");
  }
  const init = { method, headers: { [KEY_HEADER]: key } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const error = data.error || {};
    throw new Error(`${answer.status} ${error.code || ""}：${error.message || answer.statusText}`);
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function percent(share) {
  return share === null || share === undefined ? "—" : `${(share * 100).toFixed(2)}%`;
}

/* Any answer as nested definition lists, known fields labelled in Chinese. */
function record(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== "object" || v === null)) return value.join("、") || "—";
    return el("ol", {}, value.map((v) => el("li", {}, record(v))));
  }
  if (typeof value === "object") {
    return el(
      "dl",
      {},
      Object.entries(value).flatMap(([name, v]) => [el("dt", {}, LABELS[name] || name), el("dd", {}, record(v))]),
    );
  }
  if (typeof value === "number" && value > 0 && value < 1) return value.toFixed(4);
  return String(value);
}

function pages(target, page, total, go) {
  const last = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const previous = el("button", { type: "button", onclick: guarded(() => go(page - 1)) }, "上一页");
  const next = el("button", { type: "button", onclick: guarded(() => go(page + 1)) }, "下一页");
  previous.disabled = page <= 1;
  next.disabled = page >= last;
  target.replaceChildren(`共 ${total} 条，第 ${page} / ${last} 页 `, previous, next);
}

/* -- companies ------------------------------------------------------------------------ */

async function search(page = 1) {
  const q = $("#search-q").value.trim();
  const params = new URLSearchParams({ q, page, per_page: PAGE_SIZE });
  const found = await api("GET", `/companies?${params}`);
  const how = { code: "信用代码", name: "名称", sound: "同音字号", partial: "名称包含" };
  $("#search-results").replaceChildren(
    ...found.hits.map(({ match, company: c }) =>
      el(
        "li",
        {},
        el("a", { href: "#", "data-company": c.entity_id, onclick: guarded(() => openCompany(c.entity_id)) }, c.name),
        ` ${c.uscc || ""} ${c.region_code || ""}（按${how[match] || match}匹配）`,
      ),
    ),
  );
  if (!found.hits.length) $("#search-results").replaceChildren(el("li", {}, "没有找到匹配的企业"));
  pages($("#search-pages"), page, found.total, search);
}

async function openCompany(reference) {
  current = reference;
  const asOf = $("#as-of").value;
  const query = asOf ? `?as_of=${asOf}` : "";
  const control = await api("GET", `/companies/${encodeURIComponent(reference)}/control${query}`);
  $("#person").hidden = true;
  $("#company").hidden = false;
  const company = control.company;
  $("#company-title").textContent = company.name;
  $("#company-facts").textContent =
    `统一社会信用代码 ${company.uscc || "—"} · 地区 ${company.region_code || "—"} · ` +
    `行业 ${company.industry_code || "—"} · 查询日期 ${control.as_of}`;
  if (!asOf) $("#as-of").value = control.as_of;
  draw(control);
  const controller = control.actual_controller || {};
  $("#controller-line").textContent = controller.entity_id
    ? `实际控制人：${controller.name}（${BASIS[controller.basis] || controller.basis}，穿透持股 ${percent(controller.look_through_share)}）`
    : `实际控制人：无法认定。${controller.note || ""}`;
  controlTables(control);
}

function punishedIds(control) {
  const ids = new Set();
  for (const p of control.punishments || []) ids.add(p.on);
  for (const l of control.list_entries || []) if (l.listed_on_date !== false) ids.add(l.on);
  return ids;
}

/* The control picture: holders above, the company below; shares on holding edges, roles
 * dashed; the actual controller, beneficial owners and punished persons marked. */
function draw(control) {
  const company = control.company;
  const controller = (control.actual_controller || {}).entity_id;
  const owners = new Set((control.beneficial_owners || []).map((o) => o.entity_id));
  const punished = punishedIds(control);
  const nodes = new Map();
  const edges = new Map();
  const node = (id, name, kind) => {
    if (!id || nodes.has(id)) return;
    const classes = [kind];
    if (id === controller) classes.push("controller");
    if (owners.has(id)) classes.push("owner");
    if (punished.has(id)) classes.push("punished");
    if (id === company.entity_id) classes.push("subject");
    nodes.set(id, { data: { id, label: name || id, kind }, classes: classes.join(" ") });
  };
  const kindOf = (id) => (id.startsWith("P") ? "person" : "company");
  const holds = (from, to, ratio) => {
    const id = `h:${from}>${to}`;
    if (!edges.has(id)) edges.set(id, { data: { id, source: from, target: to, label: percent(ratio) }, classes: "holds" });
  };
  node(company.entity_id, company.name, "company");
  for (const s of control.shareholders || []) {
    node(s.entity_id, s.name, s.kind === "person" ? "person" : "company");
    holds(s.entity_id, company.entity_id, s.ratio);
  }
  const paths = [
    ...(control.beneficial_owners || []).flatMap((o) => o.paths || []),
    ...((control.actual_controller || {}).paths || []),
  ];
  for (const path of paths) {
    path.nodes.forEach((n) => node(n.entity_id, n.name, kindOf(n.entity_id)));
    for (let i = 0; i + 1 < path.nodes.length; i += 1) {
      holds(path.nodes[i].entity_id, path.nodes[i + 1].entity_id, path.ratios[i]);
    }
  }
  const roles = new Map(); /* one dashed edge per person, its roles joined */
  for (const r of [...(control.legal_representatives || []), ...(control.officers || [])]) {
    node(r.entity_id, r.name, "person");
    roles.set(r.entity_id, [...(roles.get(r.entity_id) || []), roleName(r.role)]);
  }
  for (const [person, names] of roles) {
    const id = `r:${person}`;
    const label = [...new Set(names)].join("、");
    edges.set(id, { data: { id, source: person, target: company.entity_id, label }, classes: "role" });
  }
  const cy = cytoscape({
    container: $("#graph"),
    elements: [...nodes.values(), ...edges.values()],
    layout: { name: "dagre", rankDir: "TB", nodeSep: 110, rankSep: 110, edgeSep: 30 },
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: { label: "data(label)", "font-size": 12, "text-wrap": "wrap", "text-max-width": 140, "text-valign": "bottom", "text-margin-y": 4 } },
      { selector: "node.company", style: { shape: "round-rectangle", "background-color": "#5b7db1", width: 34, height: 24 } },
      { selector: "node.person", style: { shape: "ellipse", "background-color": "#7fb07f", width: 26, height: 26 } },
      { selector: "node.subject", style: { "border-width": 3, "border-color": "#223" } },
      { selector: "node.owner", style: { "background-color": "#e0a030" } },
      { selector: "node.controller", style: { "background-color": "#c0392b", width: 36, height: 36, "font-weight": "bold" } },
      { selector: "node.punished", style: { "border-width": 4, "border-color": "#000", "border-style": "double" } },
      { selector: "edge", style: { "curve-style": "bezier", "target-arrow-shape": "triangle", label: "data(label)", "font-size": 11, "text-background-color": "#fff", "text-background-opacity": 0.8 } },
      { selector: "edge.role", style: { "line-style": "dashed", "line-color": "#999", "target-arrow-color": "#999", "font-size": 10, color: "#666" } },
      { selector: "edge.holds", style: { "font-weight": "bold", "text-margin-y": -8 } },
    ],
  });
  cy.on("tap", "node.person", (event) => guarded(() => openPerson(event.target.id()))());
  cy.on("tap", "node.company", (event) => {
    if (event.target.id() !== current) guarded(() => openCompany(event.target.id()))();
  });
  window.veilGraph = cy; /* for the browser test and for a curious user's console */
}

function controlTables(control) {
  const rows = (items, cells) => items.map((item) => el("tr", {}, cells(item).map((c) => el("td", {}, c))));
  const table = (title, head, body) =>
    body.length ? [el("h3", {}, title), el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, body))] : [];
  const personLink = (p) => el("a", { href: "#", onclick: guarded(() => openPerson(p.entity_id)) }, p.name);
  $("#control-tables").replaceChildren(
    ...table("股东", ["股东", "类型", "持股比例"], rows(control.shareholders || [], (s) => [s.kind === "person" ? personLink(s) : s.name, s.kind === "person" ? "自然人" : "企业", percent(s.ratio)])),
    ...table("受益所有人", ["人员", "穿透持股比例"], rows(control.beneficial_owners || [], (o) => [personLink(o), percent(o.look_through_share)])),
    ...table("法定代表人与高管", ["人员", "职务", "起", "止"], rows([...(control.legal_representatives || []), ...(control.officers || [])], (r) => [personLink(r), roleName(r.role), r.valid_from || "—", r.valid_to || "—"])),
    ...table("行政处罚", ["对象", "文号", "日期", "种类", "机关"], rows(control.punishments || [], (p) => [p.on_name, p.decision_number, p.decision_date, (p.categories || []).join("、"), p.agency])),
    ...table("名单记录", ["对象", "名单", "列入", "移出", "到期"], rows(control.list_entries || [], (l) => [l.on_name, LIST[l.list] || l.list, l.entered, l.removed || "—", l.expires || "—"])),
  );
}

async function openPerson(entityId) {
  const found = await api("GET", `/persons/${encodeURIComponent(entityId)}/footprint`);
  $("#person").hidden = false;
  $("#person-title").textContent = `人员足迹：${found.person.name}`;
  $("#person-body").replaceChildren(record(found));
  $("#person").scrollIntoView();
}

/* -- alerts --------------------------------------------------------------------------- */

async function listAlerts(page = 1) {
  const params = new URLSearchParams({ page, per_page: PAGE_SIZE });
  for (const [name, input] of [["status", "#alert-status"], ["rule", "#alert-rule"], ["region", "#alert-region"]]) {
    const value = $(input).value.trim();
    if (value) params.set(name, value);
  }
  const found = await api("GET", `/alerts?${params}`);
  $("#alert-list tbody").replaceChildren(
    ...found.alerts.map((a) =>
      el(
        "tr",
        { "data-alert": a.id, onclick: guarded(() => openAlert(a.id)) },
        el("td", {}, el("a", { href: "#", onclick: (e) => e.preventDefault() }, a.id)),
        el("td", {}, a.rule),
        el("td", {}, a.person_name || a.person_id),
        el("td", {}, a.company_name || a.company_id),
        el("td", {}, a.region_code || "—"),
        el("td", {}, STATUS[a.status] || a.status),
        el("td", {}, (a.raised_at || "—").slice(0, 10)),
      ),
    ),
  );
  pages($("#alert-pages"), page, found.total, listAlerts);
}

async function openAlert(id) {
  const alert = await api("GET", `/alerts/${encodeURIComponent(id)}`);
  alertOnScreen = id;
  $("#alert").hidden = false;
  $("#alert-title").textContent = `预警 ${id}（${STATUS[alert.status] || alert.status}）`;
  $("#alert-evidence").replaceChildren(record(alert.evidence));
  $("#alert-history").replaceChildren(
    ...alert.history.map((h) => el("li", {}, `${h.at.slice(0, 19).replace("T", " ")} ${h.reviewer}：${STATUS[h.status] || h.status || "复核"}${h.reason ? `（${h.reason}）` : ""}`)),
  );
}

async function reviewAlert(action) {
  const reason = $("#review-reason").value.trim();
  if (action === "dismiss" && !reason) {
    show("驳回预警必须填写理由");
    return;
  }
  await api("POST", `/alerts/${encodeURIComponent(alertOnScreen)}/review`, { action, reason });
  show("");
  $("#review-reason").value = "";
  await openAlert(alertOnScreen);
  await listAlerts();
}

/* -- screening ------------------------------------------------------------------------ */

const SCREEN_ROLES = { legal_rep: "法定代表人", officer: "高管", shareholder: "股东" };
const USCC = /^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$/;

function addPerson(role = "legal_rep") {
  const row = el(
    "div",
    { class: "screen-person" },
    el("select", { class: "role" }, Object.entries(SCREEN_ROLES).map(([value, label]) => {
      const option = el("option", { value }, label);
      if (value === role) option.selected = true;
      return option;
    })),
    el("input", { class: "name", placeholder: "姓名", required: "" }),
    el("input", { class: "id", placeholder: "身份证号（可遮蔽，如 3101**********1234）" }),
    el("button", { type: "button", onclick: () => row.remove() }, "删除"),
  );
  $("#screen-persons").append(row);
}

async function screen() {
  const company = $("#screen-company").value.trim();
  const persons = [...document.querySelectorAll(".screen-person")].map((row) => ({
    role: row.querySelector(".role").value,
    name: row.querySelector(".name").value.trim(),
    id_number: row.querySelector(".id").value.trim() || null,
  }));
  const request = USCC.test(company.toUpperCase())
    ? { uscc: company.toUpperCase(), persons }
    : { company_name: company, persons };
  const result = await api("POST", "/screen", request);
  const found = result.company
    ? `登记企业：${result.company.name}（${result.company.uscc || "无信用代码"}）`
    : result.company_candidates.length
      ? `同名企业 ${result.company_candidates.length} 家，未认定为其中任何一家`
      : "未找到已登记的同名企业（新设立）";
  const bans = (candidate) =>
    candidate.bans.length
      ? el("ul", {}, candidate.bans.map((ban) => el("li", { class: ban.weak ? "weak" : "banned" },
          `${ban.rule.title}（${ban.rule.legal_basis}）${ban.start} 至 ${ban.end || "无期限"}`,
          ban.weak ? `；匹配概率 ${ban.match_probability.toFixed(3)}，仅为弱线索` : "",
          el("details", {}, el("summary", {}, "证据"), record({ trigger: ban.trigger, ties: ban.ties, on_record: ban.on_record })))))
      : "无";
  const people = result.persons.map((person) =>
    el("section", { class: person.banned ? "screen-hit" : "" },
      el("h4", {}, `${SCREEN_ROLES[person.role] || person.role} ${person.name} ${person.id_masked || ""}`,
        person.banned ? el("strong", {}, " · 有生效的禁止或限制") : ""),
      person.candidates.length
        ? el("table", {},
            el("thead", {}, el("tr", {}, ["候选实体", "记录中的写法", "匹配概率", "强匹配", "比对层级", "禁止 / 关注"].map((h) => el("th", {}, h)))),
            el("tbody", {}, person.candidates.map((c) => el("tr", {},
              el("td", {}, c.entity_id), el("td", {}, `${c.name || ""} ${c.id_masked || ""}`),
              el("td", {}, c.match_probability.toFixed(4)), el("td", {}, c.strong ? "是" : "否"),
              el("td", {}, el("details", {}, el("summary", {}, `${c.levels.length} 项`), record(c.levels))),
              el("td", {}, bans(c))))))
        : el("p", {}, `无候选实体（已比对 ${person.scored_mentions} 条记录）`),
      person.weak_leads ? el("p", {}, `阈值以下另有 ${person.weak_leads} 条弱线索`) : ""));
  $("#screen-result").replaceChildren(el("h3", {}, `筛查结果（${result.as_of}）`), el("p", {}, found), ...people);
}

/* -- wiring --------------------------------------------------------------------------- */

function guarded(work) {
  return (event) => {
    if (event) event.preventDefault();
    show("");
    Promise.resolve()
      .then(work)
      .catch((e) => show(e.message));
  };
}

function useKey(value) {
  key = value;
  sessionStorage.setItem("veil-key", key);
  $("#key-state").textContent = key ? "已设置密钥" : "";
}

document.addEventListener("DOMContentLoaded", () => {
  if (typeof cytoscape === "undefined") {
    show("页面的绘图库未安装：请在服务器上运行 make web（npm ci）");
  } else {
    cytoscape.use(cytoscapeDagre);
  }
  useKey(key);
  $("#key-form").addEventListener("submit", guarded(() => useKey($("#key").value.trim())));
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => {
      for (const other of document.querySelectorAll("nav button")) other.classList.toggle("active", other === button);
      for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== `tab-${button.dataset.tab}`;
      if (button.dataset.tab === "alerts") guarded(() => listAlerts())();
    });
  }
  $("#search-form").addEventListener("submit", guarded(() => search()));
  $("#as-of-form").addEventListener("submit", guarded(() => current && openCompany(current)));
  $("#alert-filter").addEventListener("submit", guarded(() => listAlerts()));
  for (const button of document.querySelectorAll("#review-form button")) {
    button.addEventListener("click", guarded(() => reviewAlert(button.dataset.action)));
  }
  $("#screen-add").addEventListener("click", () => addPerson("officer"));
  $("#screen-form").addEventListener("submit", guarded(() => screen()));
  addPerson();
});
