// sekisho dashboard: a thin client of /api/v1. Every datum comes from the API with the token the
// user typed (kept in sessionStorage, never in a cookie); text from the API is only ever set as
// textContent, so names from the query log cannot inject markup.
"use strict";

const I18N = {
  ja: {
    title: "sekisho 管理", token: "API トークン", login: "ログイン", logout: "ログアウト", overview: "概要",
    querylog: "クエリログ", policy: "ポリシー", devices: "デバイス", why: "なぜブロック?", queries: "クエリ",
    blocked: "ブロック", active_devices: "利用端末", per_hour: "時間ごと (48 時間)", per_day: "日ごと (30 日)",
    top_categories: "カテゴリ別ブロック", top_blocked: "ブロックの多い名前", name_contains: "名前に含む",
    client: "クライアント", any_action: "すべて", search: "検索", time: "時刻", name: "名前", type: "種別",
    action: "結果", rule: "ルール", more: "さらに表示", block_categories: "ブロックするカテゴリ",
    allow: "許可リスト (1 行に 1 つ)", deny: "拒否リスト (1 行に 1 つ)", safe_search: "セーフサーチを強制",
    block_action: "ブロック時の応答", save: "保存", saving: "保存中…", saved: "保存しました (すぐに反映されます)",
    dot_hostname: "Android プライベート DNS", device_name: "端末名", add_device: "追加", revoke: "削除",
    profile: "iPhone/Mac プロファイル",
    check: "確認", verdict_block: "ブロックされます", verdict_resolve: "ブロックされません",
    verdict_rewrite: "セーフサーチに書き換えられます", verdict_monitor: "ブロックされません (監視中: 記録されます)",
    verdict_read_only: "閲覧のみ (書き込み規制)", verdict_inspect: "URL ごとに検査されます", because: "理由", categories_of_name: "この名前のカテゴリ",
    none: "なし", bad_token: "トークンが正しくありません", devices_of: "登録端末 {n} / 上限 {max}",
    unlimited: "上限なし", new_token: "新しい端末のトークン (今だけ表示): ",
    schedules: "時間帯ルール", schedule_help: "指定した曜日・時間帯だけ、追加のカテゴリをブロックします。",
    schedule_entry: "ルール {n}", schedule_block: "この時間帯にブロック", days: "曜日", from: "開始", to: "終了",
    timezone: "タイムゾーン", add_schedule: "時間帯ルールを追加", remove_schedule: "このルールを削除",
    day_mon: "月", day_tue: "火", day_wed: "水", day_thu: "木", day_fri: "金", day_sat: "土", day_sun: "日",
    day_holiday: "祝日・休業日",
    policy_mode: "ポリシーの動作", mode_enforce: "適用する", mode_monitor: "監視のみ (ブロックせず記録)",
    act_resolved: "解決", act_cached: "キャッシュ", act_blocked: "ブロック", act_rewritten: "書き換え",
    act_refused: "拒否", act_servfail: "失敗", act_stale: "期限切れの応答", act_malformed: "不正な問い合わせ",
    act_inspected: "URL 検査へ", act_over_quota: "上限超過", act_upstream_limited: "上流の上限",
    act_monitored: "監視 (ブロックせず記録)",
    conflict: "他の人が先に変更しました。読み込み直しました。もう一度保存してください。",
    log_partial: "ログの一部だけを検索しました。「さらに表示」で、より古い記録を検索します。",
    traffic: "検査通信量 (HTTPS インスペクション経由)", bytes_in: "受信", bytes_out: "送信",
    bandwidth_limit: "帯域制限", per_second: "{v}/秒", top_destinations: "通信量の多い宛先",
    limited: "帯域制限に {n} 回達しました (最後: {time})。主な宛先: {hosts}", never_limited: "帯域制限に達していません。",
    no_traffic_status: "インスペクションサービスの状態がまだありません。",
    feeds: "フィード", feeds_help: "sekisho-feed がカテゴリデータベースに取り込むフィードの状態です (sekisho feed status と同じ内容)。",
    feed_source: "取得元", feed_state: "状態", feed_last_attempt: "最終試行", feed_last_success: "最終成功",
    feed_entries: "件数", feed_version: "版", feed_problem: "エラー・拒否", feed_ok: "正常", feed_failing: "要確認",
    feed_expired: "期限切れ (前のデータを使用中)", feed_never: "未実行", feed_failures: "連続失敗 {n} 回",
    feed_refusal: "拒否 ({reason})", no_feeds: "フィードは設定されていません",
    start_from_template: "テンプレートから作成", apply_template: "このテンプレートにする",
    template_applied: "テンプレートを適用しました (すぐに反映されます)",
  },
  en: {
    title: "sekisho admin", token: "API token", login: "Log in", logout: "Log out", overview: "Overview",
    querylog: "Query log", policy: "Policy", devices: "Devices", why: "Why blocked?", queries: "Queries",
    blocked: "Blocked", active_devices: "Active devices", per_hour: "Per hour (48 hours)", per_day: "Per day (30 days)",
    top_categories: "Blocks by category", top_blocked: "Most blocked names", name_contains: "Name contains",
    client: "Client", any_action: "Any", search: "Search", time: "Time", name: "Name", type: "Type",
    action: "Action", rule: "Rule", more: "More", block_categories: "Categories to block",
    allow: "Allow list (one per line)", deny: "Deny list (one per line)", safe_search: "Enforce safe search",
    block_action: "Answer for blocked names", save: "Save", saving: "Saving…", saved: "Saved (in effect now)",
    dot_hostname: "Android Private DNS", device_name: "Device name", add_device: "Add", revoke: "Revoke",
    profile: "iPhone/Mac profile",
    check: "Check", verdict_block: "Blocked", verdict_resolve: "Not blocked",
    verdict_rewrite: "Rewritten to safe search", verdict_monitor: "Not blocked (monitored: logged)",
    verdict_read_only: "Read only (posting is restricted)", verdict_inspect: "Each URL is inspected", because: "Because", categories_of_name: "Categories of this name",
    none: "none", bad_token: "That token is not valid", devices_of: "{n} of {max} devices",
    unlimited: "no limit", new_token: "New device token (shown once): ",
    schedules: "Schedules", schedule_help: "Block more categories on the chosen days, between the chosen times.",
    schedule_entry: "Rule {n}", schedule_block: "Block during this window", days: "Days", from: "From", to: "To",
    timezone: "Time zone", add_schedule: "Add a schedule", remove_schedule: "Remove this rule",
    day_mon: "Mon", day_tue: "Tue", day_wed: "Wed", day_thu: "Thu", day_fri: "Fri", day_sat: "Sat", day_sun: "Sun",
    day_holiday: "Holidays",
    policy_mode: "Policy mode", mode_enforce: "Enforce", mode_monitor: "Monitor only (log, do not block)",
    act_resolved: "Resolved", act_cached: "Cached", act_blocked: "Blocked", act_rewritten: "Rewritten",
    act_refused: "Refused", act_servfail: "Failed", act_stale: "Stale answer", act_malformed: "Malformed",
    act_inspected: "To URL inspection", act_over_quota: "Over quota", act_upstream_limited: "Upstream limit",
    act_monitored: "Monitored (logged, not blocked)",
    conflict: "Someone changed this first. Reloaded; save again.",
    log_partial: "Searched part of the log; More searches further back.",
    traffic: "Inspected traffic (through HTTPS inspection)", bytes_in: "Received", bytes_out: "Sent",
    bandwidth_limit: "Bandwidth limit", per_second: "{v}/s", top_destinations: "Busiest destinations",
    limited: "Reached the bandwidth limit {n} times (last: {time}). Mostly: {hosts}",
    never_limited: "The bandwidth limit has not been reached.",
    no_traffic_status: "The inspection service has not reported yet.",
    feeds: "Feeds", feeds_help: "The feeds sekisho-feed keeps in the category store (what sekisho feed status shows).",
    feed_source: "Source", feed_state: "State", feed_last_attempt: "Last attempt", feed_last_success: "Last success",
    feed_entries: "Entries", feed_version: "Version", feed_problem: "Error or refusal", feed_ok: "OK",
    feed_failing: "Needs attention", feed_expired: "Expired (serving its last data)", feed_never: "never",
    feed_failures: "{n} failures in a row", feed_refusal: "refused ({reason})", no_feeds: "No feeds are configured",
    start_from_template: "Start from a template", apply_template: "Use this template",
    template_applied: "Template applied (in effect now)",
  },
};

const state = { lang: localStorage.getItem("sekisho-lang") || "ja", token: sessionStorage.getItem("sekisho-token") || "",
  me: null, tenant: "", categories: [], groups: [], policyEtag: "", policy: null, logCursor: null };
const $ = (id) => document.getElementById(id);
const t = (key, vars) => (I18N[state.lang][key] || key).replace(/\{(\w+)\}/g, (_, k) => String(vars?.[k] ?? ""));

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

// Every request to the API carries the token this one way; api() reads a JSON answer, the
// profile download reads the raw response as a file.
function apiFetch(method, path, body, headers) {
  const h = Object.assign({ Authorization: "Bearer " + state.token }, headers || {});
  if (body !== undefined) h["Content-Type"] = "application/json";
  return fetch("/api/v1/" + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function api(method, path, body, headers) {
  const r = await apiFetch(method, path, body, headers);
  const data = r.status === 204 ? null : await r.json();
  return { status: r.status, data, etag: r.headers.get("etag") || "" };
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.title = t("title");
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
  $("lang").textContent = state.lang === "ja" ? "English" : "日本語";
  if (state.me && state.policy) { renderCategories(); renderSchedules(collectSchedules()); }
  if (state.templates) renderTemplates();
}

function showTab(name) {
  for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== "tab-" + name;
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.tab === name);
  ({ overview: loadOverview, log: () => loadLog(false), policy: loadPolicy, devices: loadDevices, why: () => {},
    feeds: loadFeeds })[name]();
}

function status(text) { $("status").textContent = text || ""; }

async function login(token) {
  state.token = token;
  const me = await api("GET", "me");
  if (me.status !== 200) { $("login-error").textContent = t("bad_token"); return false; }
  sessionStorage.setItem("sekisho-token", token);
  state.me = me.data;
  const tenants = (await api("GET", "tenants")).data.tenants;
  const taxonomy = (await api("GET", "categories")).data;
  state.categories = taxonomy.categories.filter((c) => c.kind !== "allow");
  state.groups = taxonomy.groups.filter((g) => g.kind !== "allow");
  const select = $("tenant");
  select.replaceChildren(...tenants.map((x) => el("option", { value: x.id, textContent: x.name + " (" + x.id + ")" })));
  state.tenant = tenants.length ? tenants[0].id : "";
  $("feeds-tab").hidden = state.me.role !== "operator";  // /api/v1/feeds is the operators'
  $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
  applyLanguage();
  showTab("overview");
  return true;
}

// Bars of queries and blocks, one pair per entry of a series ({start or date, queries, blocked}).
function chart(target, series) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const w = 960, h = 180, n = series.length || 1, bw = w / n;
  const max = Math.max(1, ...series.map((x) => x.queries));
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("role", "img");
  series.forEach((x, i) => {
    for (const [cls, v] of [["q", x.queries], ["b", x.blocked]]) {
      const r = document.createElementNS(ns, "rect");
      const bh = (v / max) * (h - 10);
      r.setAttribute("class", cls); r.setAttribute("x", i * bw + 1); r.setAttribute("width", Math.max(bw - 2, 1));
      r.setAttribute("y", h - bh); r.setAttribute("height", bh);
      const title = document.createElementNS(ns, "title");
      title.textContent = `${x.start || x.date} ${t(cls === "q" ? "queries" : "blocked")}: ${v}`;
      r.append(title);
      svg.append(r);
    }
  });
  target.replaceChildren(svg);
}

function categoryName(slug) {
  const c = state.categories.find((x) => x.slug === slug);
  return c ? c[state.lang] : slug;
}

async function loadOverview() {
  const r = await api("GET", "stats?tenant=" + encodeURIComponent(state.tenant));
  if (r.status !== 200) return status(r.data.error);
  const s = r.data;
  $("stat-queries").textContent = s.queries; $("stat-blocked").textContent = s.blocked;
  $("stat-devices").textContent = s.active_devices + (s.max_devices ? " / " + s.max_devices : "");
  chart($("chart"), s.hourly);
  chart($("chart-daily"), s.daily);
  const cats = Object.entries(s.blocked_by_category).sort((a, b) => b[1] - a[1]);
  $("top-categories").replaceChildren(...cats.map(([slug, n]) => el("li", { textContent: `${categoryName(slug)} — ${n}` })));
  $("top-blocked").replaceChildren(...s.top_blocked_names.map((x) => el("li", { textContent: `${x.name} — ${x.count}` })));
  await loadTraffic();
}

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

// sekisho-intercept's bytes for the tenant, its limit, and the destinations that filled it.
async function loadTraffic() {
  const r = await api("GET", "intercept?tenant=" + encodeURIComponent(state.tenant));
  if (r.status !== 200) return status(r.data.error);
  const x = r.data.tenants[0] || { bytes_in: 0, bytes_out: 0, limit_bytes_per_second: 0, bandwidth_pauses: 0,
    limited_by: [], destinations: [] };
  $("traffic-in").textContent = bytes(x.bytes_in);
  $("traffic-out").textContent = bytes(x.bytes_out);
  $("traffic-limit").textContent = x.limit_bytes_per_second ? t("per_second", { v: bytes(x.limit_bytes_per_second) }) : t("unlimited");
  $("traffic-limited").textContent = r.data.time === null ? t("no_traffic_status")
    : x.bandwidth_pauses ? t("limited", { n: x.bandwidth_pauses, time: new Date(x.last_limited * 1000).toLocaleString(),
      hosts: x.limited_by.map((d) => d.host).join(", ") })
    : t("never_limited");
  $("traffic-destinations").replaceChildren(...x.destinations.map((d) =>
    el("li", { textContent: `${d.host} — ${bytes(d.bytes_in)} / ${bytes(d.bytes_out)}` })));
}

// An action's label in the current language (the API's name when the dashboard has none).
function actionName(action) {
  const key = "act_" + action;
  return I18N[state.lang][key] ? t(key) : action;
}

async function loadLog(more) {
  const q = new URLSearchParams({ tenant: state.tenant, limit: "100" });
  if ($("log-name").value) q.set("name", $("log-name").value.trim());
  if ($("log-client").value) q.set("client", $("log-client").value.trim());
  if ($("log-action").value) q.set("action", $("log-action").value);
  if (more && state.logCursor) q.set("cursor", state.logCursor);
  const r = await api("GET", "querylog?" + q);
  const body = $("log-table").tBodies[0];
  if (!more) body.replaceChildren();
  if (r.status !== 200) return status(r.data.error);
  for (const x of r.data.records) {
    body.append(el("tr", {}, el("td", { textContent: x.time.replace("T", " ").slice(0, 19) }), el("td", { textContent: x.device || x.client }),
      el("td", { textContent: x.name }), el("td", { textContent: x.type }),
      el("td", { textContent: actionName(x.action), title: x.action, className: x.action === "blocked" ? "blocked" : x.action === "monitored" ? "monitored" : "" }),
      el("td", { textContent: x.categories.map(categoryName).join(", ") || x.rule_text || "" })));
  }
  state.logCursor = r.data.next_cursor;
  $("log-more").hidden = !state.logCursor;
  // A page the server's scan budget ended may hold few or no records: say why.
  status(r.data.scan_limited ? t("log_partial") : "");
}

// Category checkboxes with display names under their groups (大分類); shared by the policy's list
// and each schedule entry. `groupsChecked` given: each group has a box of its own too (the
// policy's block_groups: every category of the group, present and future).
function categoryChecks(checked, groupsChecked) {
  return state.groups.map((g) => {
    // The group's slug in data-group, not value: a group and a category may share a slug (gambling).
    const box = el("input", { type: "checkbox", className: "group-box", checked: groupsChecked && groupsChecked.includes(g.slug) });
    box.dataset.group = g.slug;
    const head = groupsChecked
      ? el("label", { className: "group-head" }, box, " " + g[state.lang])
      : el("div", { className: "group-head", textContent: g[state.lang] });
    const members = state.categories.filter((c) => c.group === g.slug).map((c) => {
      const input = el("input", { type: "checkbox", value: c.slug, checked: checked.includes(c.slug) });
      return el("label", { className: c.kind === "security" ? "security" : "" }, input, " " + c[state.lang]);
    });
    return el("div", { className: "group" }, head, ...members);
  });
}

const checkedValues = (root) => [...root.querySelectorAll("input[type=checkbox]:checked:not(.group-box)")].map((i) => i.value);
const checkedGroups = (root) => [...root.querySelectorAll("input.group-box:checked")].map((i) => i.dataset.group);

// Re-rendering (language switch) keeps what the user has ticked but not saved yet.
function renderCategories() {
  if (!state.policy) return;
  const box = $("categories");
  const fresh = !box.childElementCount;
  box.replaceChildren(...categoryChecks(fresh ? state.policy.block : checkedValues(box),
                                        fresh ? state.policy.block_groups : checkedGroups(box)));
}

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"];

function scheduleEntry(s) {
  const text = (cls, value, placeholder) => el("input", { className: cls, value, placeholder, required: true, size: 6 });
  const days = el("div", { className: "days" }, ...DAYS.map((d) =>
    el("label", {}, el("input", { type: "checkbox", value: d, checked: s.days.includes(d) }), " " + t("day_" + d))));
  const remove = el("button", { type: "button", className: "remove", textContent: t("remove_schedule") });
  const box = el("fieldset", { className: "schedule" },
    el("legend", {}),
    el("div", { className: "label", textContent: t("schedule_block") }),
    el("div", { className: "checks sched-categories" }, ...categoryChecks(s.block)),
    el("div", { className: "row" },
      el("span", { className: "label", textContent: t("days") }), days),
    el("div", { className: "row" },
      el("label", { className: "inline" }, t("from") + " ", text("from", s.from, "09:00")),
      el("label", { className: "inline" }, t("to") + " ", text("to", s.to, "18:00")),
      el("label", { className: "inline" }, t("timezone") + " ",
        Object.assign(text("timezone", s.timezone, "Asia/Tokyo"), { size: 18, spellcheck: false }))),
    remove);
  box.querySelector(".timezone").setAttribute("list", "timezones");
  // Not edited here, kept as they were: an override's dates.
  box.dataset.since = s.since || ""; box.dataset.until = s.until || "";
  remove.addEventListener("click", () => { box.remove(); numberSchedules(); });
  return box;
}

function numberSchedules() {
  document.querySelectorAll("#schedules .schedule legend").forEach((l, i) => { l.textContent = t("schedule_entry", { n: i + 1 }); });
}

// The entries as the API takes them (policy.schedule[]); the API validates times, days and zones.
function collectSchedules() {
  return [...document.querySelectorAll("#schedules .schedule")].map((box) => ({
    block: checkedValues(box.querySelector(".sched-categories")),
    days: checkedValues(box.querySelector(".days")),
    from: box.querySelector(".from").value.trim(), to: box.querySelector(".to").value.trim(),
    timezone: box.querySelector(".timezone").value.trim(),
    since: box.dataset.since || "", until: box.dataset.until || "",
  }));
}

function renderSchedules(list) {
  $("schedules").replaceChildren(...list.map(scheduleEntry));
  numberSchedules();
}

function addSchedule() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("schedules").append(scheduleEntry({ block: [], days: DAYS.slice(0, 5), from: "09:00", to: "18:00", timezone: zone }));
  numberSchedules();
}

async function loadPolicy() {
  loadTemplates();
  const r = await api("GET", `tenants/${encodeURIComponent(state.tenant)}/policy`);
  if (r.status !== 200) return status(r.data.error);
  state.policy = r.data; state.policyEtag = r.etag;
  $("categories").replaceChildren();
  renderCategories();
  renderSchedules(r.data.schedule);
  $("allow").value = r.data.allow.join("\n"); $("deny").value = r.data.deny.join("\n");
  $("safe-search").checked = r.data.safe_search; $("action").value = r.data.action;
  $("policy-mode").value = r.data.mode;
  $("policy-error").textContent = "";
}

const UNEDITED_POLICY_FIELDS = ["monitor", "monitor_groups", "read_only", "read_only_groups", "unblock", "unblock_groups",
  "allow_categories", "holidays", "calendar", "log", "deep_inspection"];

// Policy templates (GET /api/v1/templates): named and described in the dashboard's language;
// applying one replaces the tenant's policy with the template's (PUT …/policy {"template": id}).
function renderTemplates() {
  const chosen = $("template").value;
  $("template").replaceChildren(...state.templates.map((tp) => el("option", { value: tp.id }, tp.name[state.lang] || tp.id)));
  if (chosen) $("template").value = chosen;
  describeTemplate();
}

function describeTemplate() {
  const tp = (state.templates || []).find((x) => x.id === $("template").value);
  $("template-description").textContent = tp ? tp.description[state.lang] : "";
}

async function loadTemplates() {
  if (state.templates) return;
  const r = await api("GET", "templates");
  if (r.status !== 200) return;
  state.templates = r.data.templates;
  $("template-form").hidden = state.templates.length === 0;
  renderTemplates();
}

async function applyTemplate(ev) {
  ev.preventDefault();
  status(t("saving"));
  const r = await api("PUT", `tenants/${encodeURIComponent(state.tenant)}/policy`, { template: $("template").value },
                      state.policyEtag ? { "If-Match": state.policyEtag } : {});
  if (r.status === 200) { await loadPolicy(); status(t("template_applied")); return; }
  status("");
  if (r.status === 412) { await loadPolicy(); $("policy-error").textContent = t("conflict"); return; }
  $("policy-error").textContent = r.data.error + (r.data.field ? ` (${r.data.field})` : "");
}

async function savePolicy(ev) {
  ev.preventDefault();
  const lines = (id) => $(id).value.split("\n").map((s) => s.trim()).filter(Boolean);
  const p = state.policy;
  const body = { block: checkedValues($("categories")), block_groups: checkedGroups($("categories")),
    allow: lines("allow"), deny: lines("deny"), schedule: collectSchedules(), safe_search: $("safe-search").checked,
    action: $("action").value, mode: $("policy-mode").value };
  // The fields this form does not edit go back as they came: a PUT replaces the whole policy.
  for (const key of UNEDITED_POLICY_FIELDS) if (key in p) body[key] = p[key];
  // An earlier "saved" must not stand for this save while it is on its way.
  status(t("saving"));
  const r = await api("PUT", `tenants/${encodeURIComponent(state.tenant)}/policy`, body, state.policyEtag ? { "If-Match": state.policyEtag } : {});
  if (r.status === 200) {
    status(t("saved")); state.policyEtag = r.etag; state.policy = r.data; $("policy-error").textContent = "";
    renderSchedules(r.data.schedule);
    return;
  }
  status("");
  if (r.status === 412) { await loadPolicy(); $("policy-error").textContent = t("conflict"); return; }
  $("policy-error").textContent = r.data.error + (r.data.field ? ` (${r.data.field})` : "");
}

async function loadDevices() {
  const r = await api("GET", `tenants/${encodeURIComponent(state.tenant)}/devices`);
  if (r.status !== 200) return status(r.data.error);
  $("device-limit").textContent = t("devices_of", { n: r.data.devices.length, max: r.data.max_devices || t("unlimited") });
  $("device-table").tBodies[0].replaceChildren(...r.data.devices.map((d) => {
    const revoke = el("button", { type: "button", textContent: t("revoke") });
    revoke.addEventListener("click", async () => {
      const x = await api("DELETE", `tenants/${encodeURIComponent(state.tenant)}/devices/${encodeURIComponent(d.name)}`);
      if (x.status !== 204) $("device-error").textContent = x.data.error;
      loadDevices();
    });
    // The profile needs the token header, so it is fetched and handed to the browser as a file.
    const profile = el("button", { type: "button", textContent: t("profile"), hidden: !d.doh_url });
    profile.addEventListener("click", async () => {
      const x = await apiFetch("GET", `tenants/${encodeURIComponent(state.tenant)}/devices/${encodeURIComponent(d.name)}/profile`);
      if (!x.ok) { $("device-error").textContent = (await x.json()).error; return; }
      const a = el("a", { href: URL.createObjectURL(await x.blob()), download: `${state.tenant}-${d.name}.mobileconfig` });
      a.click();
      URL.revokeObjectURL(a.href);
    });
    return el("tr", {}, el("td", { textContent: d.name }), el("td", { textContent: d.dot_hostname || d.token }), el("td", {}, profile, " ", revoke));
  }));
}

function when(unix) {
  return unix ? new Date(unix * 1000).toLocaleString(state.lang === "ja" ? "ja-JP" : "en-GB") : t("feed_never");
}

// One row per configured feed, from the status files sekisho-feed writes (GET /api/v1/feeds).
async function loadFeeds() {
  const r = await api("GET", "feeds");
  if (r.status !== 200) return status(r.data.error);
  const rows = r.data.feeds.map((f) => {
    const health = f.expired ? t("feed_expired") : f.healthy ? t("feed_ok")
      : f.last_attempt ? t("feed_failing") : t("feed_never");
    const problem = [];
    if (f.last_result === "refused" && f.last_refusal) problem.push(t("feed_refusal", { reason: f.last_refusal.split(":")[0] }));
    if (f.last_error) problem.push(f.last_error);
    if (f.consecutive_failures) problem.push(t("feed_failures", { n: f.consecutive_failures }));
    const version = f.kind === "http" ? (f.etag || f.last_modified || "") : (f.serial ?? "");
    const source = f.kind === "http" ? `${f.format} ${f.url}` : `${f.zone} @ ${f.primary}`;
    return el("tr", { className: f.healthy ? "" : "feed-bad" },
      el("td", { textContent: f.name }), el("td", { textContent: `${f.kind}: ${source}` }),
      el("td", { textContent: health + (f.last_result ? ` (${f.last_result})` : "") }),
      el("td", { textContent: when(f.last_attempt) }), el("td", { textContent: when(f.last_success) }),
      el("td", { textContent: String(f.entries) }), el("td", { textContent: String(version) }),
      el("td", { textContent: problem.join(" — ") || "-" }));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colSpan: 8, textContent: t("no_feeds") })));
  $("feed-table").tBodies[0].replaceChildren(...rows);
}

async function addDevice(ev) {
  ev.preventDefault();
  const r = await api("POST", `tenants/${encodeURIComponent(state.tenant)}/devices`, { name: $("device-name").value.trim() });
  $("device-error").textContent = r.status === 201 ? "" : r.data.error;
  $("device-token").textContent = r.status === 201 ? t("new_token") + r.data.token : "";
  if (r.status === 201) $("device-name").value = "";
  loadDevices();
}

async function why(ev) {
  ev.preventDefault();
  const q = new URLSearchParams({ tenant: state.tenant, name: $("why-name").value.trim() });
  const r = await api("GET", "check?" + q);
  const out = $("why-result");
  if (r.status !== 200) return out.replaceChildren(el("p", { className: "error", textContent: r.data.error }));
  const v = r.data;
  const reason = v.rule === "category" || v.rule === "schedule" ? categoryName(v.category) + (v.schedule ? ` (${v.schedule})` : "")
    : v.list_entry || v.detail || "";
  out.replaceChildren(
    el("p", { className: "verdict-" + (v.verdict === "block" ? "block" : "resolve"), textContent: `${v.name}: ${t("verdict_" + v.verdict)}` }),
    el("p", { textContent: `${t("because")}: ${v.rule}${reason ? " — " + reason : ""}` }),
    el("p", { textContent: `${t("categories_of_name")}: ${v.categories.map(categoryName).join(", ") || t("none")}` }),
    v.detail ? el("p", { className: "note", textContent: v.detail }) : "");
}

document.addEventListener("DOMContentLoaded", () => {
  applyLanguage();
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "ja" ? "en" : "ja";
    localStorage.setItem("sekisho-lang", state.lang);
    applyLanguage();
  });
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value.trim()); });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem("sekisho-token"); location.reload(); });
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("tenant").addEventListener("change", () => {
    state.tenant = $("tenant").value;
    showTab(document.querySelector("nav button.active")?.dataset.tab || "overview");
  });
  $("log-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadLog(false); });
  $("log-more").addEventListener("click", () => loadLog(true));
  $("policy-form").addEventListener("submit", savePolicy);
  $("template-form").addEventListener("submit", applyTemplate);
  $("template").addEventListener("change", describeTemplate);
  $("add-schedule").addEventListener("click", addSchedule);
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : ["UTC", "Asia/Tokyo"];
  $("timezones").replaceChildren(...zones.map((z) => el("option", { value: z })));
  $("device-form").addEventListener("submit", addDevice);
  $("why-form").addEventListener("submit", why);
  if (state.token) login(state.token);
});
