#include "orchestrator/explore/explore_html.h"

#include "orchestrator/core/printable.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace fb {

namespace {

using nlohmann::json;

// Every outcome of the explore contract, in the order rows are sorted by their worst cell:
// crashes first, then the silent failures nobody noticed, then the other findings, and the
// outcomes that need no attention last.
struct OutcomeStyle {
  std::string_view name;
  std::string_view label;  // short text in a matrix cell
  std::string_view meaning;
};
constexpr std::array<OutcomeStyle, 9> kOutcomes{{
    {"kernel-crash", "crash", "the kernel crashed (the title names the report)"},
    {"silent", "silent", "exit 0 but the fault fired: nobody noticed"},
    {"hang", "hang", "the workload or the kernel stopped making progress"},
    {"data-loss", "data loss", "a disk inspection failed after the run"},
    {"warning", "warning", "a WARNING or BUG splat, but the kernel lived"},
    {"infra-error", "infra", "faultbox's own problem, not a verdict"},
    {"handled", "handled", "the workload saw the error and said so"},
    {"pass", "pass", "exit 0, expectations met"},
    {"not-run", "not run", "not run: over the budget or interrupted"},
}};
constexpr std::size_t kUnknownRank = 5;  // an outcome this page does not know ranks with infra-error

std::size_t outcome_rank(std::string_view outcome) {
  for (std::size_t i = 0; i < kOutcomes.size(); ++i)
    if (kOutcomes[i].name == outcome) return i;
  return kUnknownRank;
}

// The class and data-outcome of a cell: a known outcome name, or "unknown" (the raw text is
// shown escaped in the cell, never used as a class).
std::string outcome_class(std::string_view outcome) {
  for (const auto& o : kOutcomes)
    if (o.name == outcome) return std::string(o.name);
  return "unknown";
}

std::string outcome_label(std::string_view outcome) {
  for (const auto& o : kOutcomes)
    if (o.name == outcome) return std::string(o.label);
  return html_escape(outcome);
}

// Reading the report tolerantly: a key that is missing, null or of another type reads as absent,
// so a damaged or older explore.json still renders what it has.
const json* field(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string text_of(const json* v) {
  if (!v) return {};
  if (v->is_string()) return v->get_ref<const std::string&>();
  if (v->is_number_integer()) return std::to_string(v->get<long long>());
  if (v->is_number_unsigned()) return std::to_string(v->get<unsigned long long>());
  if (v->is_number_float()) return fmt::format("{}", v->get<double>());
  if (v->is_boolean()) return v->get<bool>() ? "true" : "false";
  return {};
}
std::string text_of(const json& obj, std::string_view key) { return text_of(field(obj, key)); }

std::optional<double> number_of(const json& obj, std::string_view key) {
  const json* v = field(obj, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::optional<long long> integer_of(const json& obj, std::string_view key) {
  const json* v = field(obj, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->is_number_float() ? static_cast<long long>(v->get<double>()) : v->get<long long>();
}

const json& array_of(const json& obj, std::string_view key) {
  static const json kEmpty = json::array();
  const json* v = field(obj, key);
  return v && v->is_array() ? *v : kEmpty;
}

std::vector<std::string> strings_of(const json& obj, std::string_view key) {
  std::vector<std::string> out;
  for (const auto& e : array_of(obj, key))
    if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

// Valid UTF-8 is kept (a file name may be German); a newline in a title is only a space to HTML.
std::string esc(std::string_view s) { return html_escape(s, TextLayout::Lines); }
std::string or_dash(std::string s) { return s.empty() ? "-" : s; }

// An href for a path from the report: only a path (relative to the report dir, or absolute on
// this machine), percent-encoded so it can hold no scheme (`javascript:`), query or fragment.
// A network-path reference (`//host/...`) or an empty path gets no link.
std::optional<std::string> path_href(std::string_view path) {
  if (path.empty() || path.substr(0, 2) == "//") return std::nullopt;
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                 c == '_' || c == '~' || c == '/' || c == '+' || c == ',' || c == '=' || c == '@';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string link_or_text(std::string_view path, std::string_view text, std::string_view attrs = {}) {
  auto href = path_href(path);
  if (!href) return esc(text);
  return fmt::format("<a href=\"{}\"{}{}>{}</a>", *href, attrs.empty() ? "" : " ", attrs, esc(text));
}

// A run's site as the page groups it: rows by `row_key`, columns by `variant`.
struct SiteKey {
  std::string kind;      // nth, function, block, or what the report said
  std::string row_key;   // data-site: "nth:5", "function:should_failslab", "block:dm_flakey"
  std::string row_name;  // shown in the row header
  long long nth = -1;    // numeric order for nth rows
  std::string variant;   // data-variant: "nth", "-ENOMEM/once", "drop_writes"
  std::string variant_head;
  std::string type;      // a function's error-injection type (ERRNO, TRUE, NULL, ...)
};

SiteKey site_of(const json& run) {
  const json* site = field(run, "site");
  static const json kNone = json::object();
  const json& s = site && site->is_object() ? *site : kNone;
  SiteKey k;
  k.kind = text_of(s, "kind");
  if (k.kind == "nth") {
    k.nth = integer_of(s, "nth").value_or(-1);
    k.row_key = "nth:" + text_of(s, "nth");
    k.row_name = "nth " + text_of(s, "nth");
    k.variant = "nth";
    k.variant_head = "fail-nth";
  } else if (k.kind == "function") {
    std::string fn = text_of(s, "function");
    k.row_key = "function:" + fn;
    k.row_name = fn;
    k.type = text_of(s, "type");
    std::string retval = text_of(s, "retval"), mode = text_of(s, "mode");
    k.variant = retval + "/" + mode;
    k.variant_head = retval + " " + mode;
  } else if (k.kind == "block") {
    std::string fault = text_of(s, "fault");
    k.row_key = "block:" + fault;
    k.row_name = fault;
    k.variant = text_of(s, "variant");
    k.variant_head = k.variant;
  } else {
    k.kind = k.kind.empty() ? "unknown" : k.kind;
    k.row_key = k.kind + ":" + text_of(s, "name");
    k.row_name = k.row_key;
    k.variant = "-";
    k.variant_head = "run";
  }
  return k;
}

std::string run_id_text(const json& run) { return text_of(run, "id"); }

// A stack as one line of its first frames, expandable to every frame.
std::string compact_stack(const std::vector<std::string>& frames) {
  if (frames.empty()) return "<span class=\"none\">no stack</span>";
  constexpr std::size_t kShown = 3;
  std::string head;
  for (std::size_t i = 0; i < frames.size() && i < kShown; ++i) head += (i ? " &larr; " : "") + esc(frames[i]);
  if (frames.size() <= kShown) return "<span class=\"stack\">" + head + "</span>";
  std::string all;
  for (const auto& f : frames) all += "<li>" + esc(f) + "</li>";
  return fmt::format("<details class=\"stack\"><summary>{} &larr; &hellip; ({} frames)</summary><ol>{}</ol></details>", head,
                     frames.size(), all);
}

constexpr std::array<std::string_view, 4> kEvidenceKinds{"console", "kmsg", "stack", "output"};

std::string evidence_links(const json& run) {
  const json* ev = field(run, "evidence");
  if (!ev || !ev->is_object()) return {};
  std::string out;
  for (auto kind : kEvidenceKinds) {
    std::string path = text_of(*ev, kind);
    auto href = path_href(path);
    if (!href) continue;
    out += fmt::format("<a class=\"evidence\" data-evidence=\"{}\" href=\"{}\">{}</a> ", kind, *href, kind);
  }
  if (!out.empty()) out.pop_back();
  return out;
}

bool is_finding_with_evidence(std::string_view outcome) {
  return outcome == "kernel-crash" || outcome == "hang" || outcome == "warning" || outcome == "data-loss";
}

// The script: filter rows by outcome (a click on a legend entry, or #filter=OUTCOME in the URL).
// No data goes into it; it only reads the page's data- attributes.
constexpr std::string_view kScript = R"JS(
(function () {
  var active = null;
  function apply() {
    document.querySelectorAll('tr[data-outcomes]').forEach(function (tr) {
      tr.hidden = active !== null && tr.getAttribute('data-outcomes').split(' ').indexOf(active) < 0;
    });
    document.querySelectorAll('button.filter').forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.getAttribute('data-outcome') === active));
    });
    document.body.setAttribute('data-filter', active || '');
  }
  document.querySelectorAll('button.filter').forEach(function (b) {
    b.addEventListener('click', function () {
      var o = b.getAttribute('data-outcome');
      active = active === o ? null : o;
      apply();
      if (history.replaceState) history.replaceState(null, '', active ? '#filter=' + active : '#');
    });
  });
  var m = /^#filter=([a-z-]+)$/.exec(location.hash);
  if (m) active = m[1];
  apply();
})();
)JS";

// The CSP source for the inline script: only this exact script may run, so even text that
// escaped escaping could not execute.
std::string script_hash_source() {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(kScript.data()), kScript.size(), digest);
  unsigned char b64[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];
  EVP_EncodeBlock(b64, digest, SHA256_DIGEST_LENGTH);
  return "'sha256-" + std::string(reinterpret_cast<char*>(b64)) + "'";
}

constexpr std::string_view kStyle = R"CSS(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 .5em; } h2 { font-size: 1.2em; margin: 1.5em 0 .5em; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #f3f3f3; font-weight: 600; }
table.facts th { background: none; border: none; padding-right: 1em; } table.facts td { border: none; }
code, .stack, .mono { font-family: ui-monospace, monospace; font-size: 12px; }
details.stack summary { cursor: pointer; } details.stack ol { margin: .2em 0 .2em 1.5em; padding: 0; }
.banner { padding: .6em 1em; margin: 0 0 1em; font-weight: 700; border-radius: 4px; }
.banner.partial { background: #fff3cd; border: 2px solid #e0a800; color: #5c4400; }
.counts { display: flex; flex-wrap: wrap; gap: .4em; margin: .5em 0 1em; }
button.filter { border: 1px solid #999; border-radius: 4px; padding: .3em .6em; cursor: pointer; font: inherit; }
button.filter[aria-pressed="true"] { outline: 3px solid #000; }
button.filter .n { font-weight: 700; margin-left: .3em; }
td.outcome { text-align: center; white-space: nowrap; min-width: 5em; }
td.outcome a { color: inherit; } td.outcome a.evidence { font-size: 11px; }
.outcome.kernel-crash { background: #c62828; color: #fff; }
.outcome.silent { background: #fdd835; color: #000; }
.outcome.hang { background: #6a1b9a; color: #fff; }
.outcome.data-loss { background: #ad1457; color: #fff; }
.outcome.warning { background: #ef6c00; color: #fff; }
.outcome.infra-error, .outcome.unknown { background: #757575; color: #fff; }
.outcome.handled { background: #66bb6a; color: #000; }
.outcome.pass { background: #c8e6c9; color: #000; }
.outcome.not-run { background: #fff; color: #666; border-style: dashed; }
.outcome.absent { background: #fafafa; color: #bbb; }
.none { color: #888; } .type { font-weight: 400; font-size: 11px; color: #666; }
tr[hidden] { display: none; }
.detail { max-width: 50em; overflow-wrap: anywhere; }
)CSS";

struct Row {
  SiteKey key;
  std::vector<std::string> frames;  // the first stack a run of this site had
  std::map<std::string, std::vector<const json*>> cells;  // variant -> runs
  std::size_t worst = kOutcomes.size();
  std::vector<std::string> outcomes;  // distinct outcome classes, for data-outcomes
};

void note_outcome(std::vector<std::string>& list, const std::string& cls) {
  if (std::find(list.begin(), list.end(), cls) == list.end()) list.push_back(cls);
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? std::string(sep) : "") + v[i];
  return out;
}

std::string cell_html(const std::vector<const json*>& runs) {
  if (runs.empty()) return "<td class=\"outcome absent\" data-outcome=\"none\">&ndash;</td>";
  const json* worst = runs.front();
  for (const json* r : runs)
    if (outcome_rank(text_of(*r, "outcome")) < outcome_rank(text_of(*worst, "outcome"))) worst = r;
  std::string outcome = text_of(*worst, "outcome");
  std::string tip, body;
  for (const json* r : runs) {
    std::string id = run_id_text(*r), o = text_of(*r, "outcome");
    std::string what = text_of(*r, "title");
    if (what.empty()) what = text_of(*r, "detail");
    if (!tip.empty()) tip += "\n";
    tip += "run " + id + ": " + o + (what.empty() ? "" : ": " + what);
    if (!body.empty()) body += "<br>";
    body += fmt::format("<a class=\"run-link\" href=\"#run-{}\">{}</a>", esc(id), outcome_label(o));
    if (is_finding_with_evidence(o)) {
      std::string ev = evidence_links(*r);
      if (!ev.empty()) body += "<br>" + ev;
    }
  }
  std::vector<std::string> ids;
  for (const json* r : runs) ids.push_back(esc(run_id_text(*r)));
  return fmt::format("<td class=\"outcome {0}\" data-outcome=\"{0}\" data-run=\"{1}\" title=\"{2}\">{3}</td>",
                     outcome_class(outcome), join(ids, " "), esc(tip), body);
}

// One matrix: the rows of one site kind, the union of their variants as columns.
using Columns = std::vector<std::pair<std::string, std::string>>;  // variant, its heading

// A kind's columns in the order the runs first name them, "once" before "always", a block
// fault's "every request" after every "request K" (a disk with fewer requests names it first).
Columns columns_of(const std::vector<const json*>& runs, std::string_view kind) {
  Columns columns;
  for (const json* r : runs) {
    SiteKey k = site_of(*r);
    if (k.kind != kind) continue;
    bool seen = std::any_of(columns.begin(), columns.end(), [&](const auto& c) { return c.first == k.variant; });
    if (!seen) columns.emplace_back(k.variant, k.variant_head);
  }
  auto mode_rank = [](const std::string& v) {
    if (v.size() >= 5 && v.compare(v.size() - 5, 5, "/once") == 0) return 0;
    if (v.size() >= 7 && v.compare(v.size() - 7, 7, "/always") == 0) return 1;
    if (v == "every request") return 3;
    return 2;
  };
  std::stable_sort(columns.begin(), columns.end(), [&](const auto& a, const auto& b) { return mode_rank(a.first) < mode_rank(b.first); });
  return columns;
}

// One matrix: the rows of one site kind, the union of their variants as columns.
std::string matrix_html(std::string_view kind, std::string_view heading, const std::vector<Row*>& rows, const Columns& columns) {
  if (rows.empty()) return {};
  std::string out = fmt::format("<section class=\"matrix\" id=\"matrix-{0}\"><h2>{1}</h2>\n<table class=\"matrix\" data-kind=\"{0}\">"
                                "<thead><tr><th>site</th><th>stack</th>",
                                esc(kind), heading);
  for (const auto& [variant, head] : columns)
    out += fmt::format("<th class=\"variant\" data-variant=\"{}\">{}</th>", esc(variant), esc(head));
  out += "</tr></thead>\n<tbody>\n";
  for (Row* r : rows) {
    out += fmt::format("<tr class=\"site\" data-site=\"{}\" data-outcomes=\"{}\"><th class=\"site-name\">{}{}</th><td>{}</td>",
                       esc(r->key.row_key), join(r->outcomes, " "), esc(r->key.row_name),
                       r->key.type.empty() ? "" : " <span class=\"type\">" + esc(r->key.type) + "</span>", compact_stack(r->frames));
    for (const auto& [variant, head] : columns) {
      (void)head;
      auto it = r->cells.find(variant);
      out += it == r->cells.end() ? cell_html({}) : cell_html(it->second);
    }
    out += "</tr>\n";
  }
  out += "</tbody></table></section>\n";
  return out;
}

std::string seconds_text(std::optional<double> s) { return s ? fmt::format("{:.2f} s", *s) : "&ndash;"; }

std::string facts_html(const json& report) {
  std::string out = "<table class=\"facts\">\n";
  auto fact = [&](std::string_view name, const std::string& value_html, std::string_view id) {
    out += fmt::format("<tr id=\"fact-{}\"><th>{}</th><td>{}</td></tr>\n", id, name, value_html);
  };
  static const json kNone = json::object();
  const json* w = field(report, "workload");
  const json& workload = w && w->is_object() ? *w : kNone;
  std::vector<std::string> argv = strings_of(workload, "command");
  std::string command;
  for (const auto& a : argv) {  // as a shell would take it back
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>(){}[]#~!") == std::string::npos;
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    command += (command.empty() ? "" : " ") + (plain ? a : quoted + "'");
  }
  fact("workload", "<code>" + (command.empty() ? std::string("&ndash;") : esc(command)) + "</code>", "workload");
  if (std::string sc = text_of(workload, "scenario"); !sc.empty()) {
    std::string step = text_of(workload, "step");
    fact("scenario", link_or_text(sc, sc) + (step.empty() ? "" : ", step <code>" + esc(step) + "</code>"), "scenario");
  }
  const json* k = field(report, "kernel");
  const json& kernel = k && k->is_object() ? *k : kNone;
  std::string kernel_text = text_of(kernel, "release");
  if (std::string hash = text_of(kernel, "hash"); !hash.empty()) kernel_text += (kernel_text.empty() ? "" : " ") + ("(" + hash + ")");
  fact("kernel", kernel_text.empty() ? "&ndash;" : esc(kernel_text), "kernel");
  fact("accelerator", esc(text_of(report, "accel")), "accel");
  fact("started", esc(text_of(report, "started")), "started");
  fact("wall time", seconds_text(number_of(report, "wall_s")), "wall");
  const json* d = field(report, "discovery");
  const json& discovery = d && d->is_object() ? *d : kNone;
  // Block requests per disk, when the block discovery ran (the key is absent otherwise).
  std::string disks;
  for (const auto& disk : array_of(discovery, "disks"))
    if (disk.is_object())
      disks += fmt::format(", disk {}: {} block requests", esc(text_of(disk, "disk")), esc(or_dash(text_of(disk, "requests"))));
  fact("discovery",
       fmt::format("{} fail-nth sites, {} injectable functions reached{}, {}", esc(or_dash(text_of(discovery, "nth_sites"))),
                   array_of(discovery, "functions").size(), disks, seconds_text(number_of(discovery, "wall_s"))),
       "discovery");
  const json* v = field(report, "vms");
  const json& vms = v && v->is_object() ? *v : kNone;
  fact("VMs",
       fmt::format("{} booted, {} replaced, {} jobs; boot median {}, per-run overhead median {}", esc(or_dash(text_of(vms, "booted"))),
                   esc(or_dash(text_of(vms, "replaced"))), esc(or_dash(text_of(vms, "jobs"))), seconds_text(number_of(vms, "boot_s_median")),
                   seconds_text(number_of(vms, "run_overhead_s_median"))),
       "vms");
  if (auto notes = strings_of(discovery, "notes"); !notes.empty()) {
    std::string list;
    for (const auto& n : notes) list += "<li>" + esc(n) + "</li>";
    fact("discovery notes", "<ul class=\"notes\">" + list + "</ul>", "notes");
  }
  if (std::string ver = text_of(report, "faultbox_version"); !ver.empty()) fact("faultbox", esc(ver), "version");
  out += "</table>\n";
  return out;
}

std::string counts_html(const json& report, const std::vector<const json*>& runs) {
  const json* counts = field(report, "counts");
  std::map<std::string, long long> n;
  if (counts && counts->is_object()) {
    for (const auto& o : kOutcomes) n[std::string(o.name)] = integer_of(*counts, o.name).value_or(0);
  } else {
    for (const json* r : runs) ++n[outcome_class(text_of(*r, "outcome"))];
  }
  std::string out = "<div class=\"counts\" id=\"counts\">";
  for (const auto& o : kOutcomes)
    out += fmt::format(
        "<button type=\"button\" class=\"filter outcome {0}\" data-outcome=\"{0}\" data-count=\"{1}\" aria-pressed=\"false\" "
        "title=\"{2}\">{3}<span class=\"n\">{1}</span></button>",
        o.name, n[std::string(o.name)], o.meaning, o.name);
  out += "</div>\n";
  return out;
}

std::string groups_html(const json& report, const std::map<std::string, const json*>& runs_by_id) {
  const json& groups = array_of(report, "groups");
  if (groups.empty()) return {};
  std::vector<const json*> ordered;
  for (const auto& g : groups)
    if (g.is_object()) ordered.push_back(&g);
  std::stable_sort(ordered.begin(), ordered.end(), [](const json* a, const json* b) {
    return outcome_rank(text_of(*a, "outcome")) < outcome_rank(text_of(*b, "outcome"));
  });
  std::string out =
      "<section id=\"groups\"><h2>Groups: runs that end the same way (one crash or warning title, or one stack)</h2>\n<table class=\"groups\">"
      "<thead><tr><th>group</th><th>outcome</th><th>title</th><th>stack</th><th>sites that reach it</th></tr></thead><tbody>\n";
  for (const json* g : ordered) {
    std::string outcome = text_of(*g, "outcome");
    std::string sites;
    for (const auto& id_json : array_of(*g, "runs")) {
      std::string id = text_of(&id_json);
      auto it = runs_by_id.find(id);
      std::string name = it == runs_by_id.end() ? "run " + id : site_of(*it->second).row_key;
      if (it != runs_by_id.end()) {
        SiteKey k = site_of(*it->second);
        if (k.variant != "nth" && k.variant != "-") name += " " + k.variant;
      }
      sites += fmt::format("<li><a href=\"#run-{}\" data-run=\"{}\">{}</a></li>", esc(id), esc(id), esc(name));
    }
    out += fmt::format(
        "<tr class=\"group\" id=\"group-{0}\" data-group=\"{0}\" data-outcomes=\"{1}\"><td>{0}</td><td class=\"outcome {1}\" "
        "data-outcome=\"{1}\">{2}</td><td class=\"detail\">{3}</td><td>{4}</td><td><ul class=\"sites\">{5}</ul></td></tr>\n",
        esc(text_of(*g, "id")), outcome_class(outcome), outcome_label(outcome), esc(text_of(*g, "title")),
        compact_stack(strings_of(*g, "stack")), sites);
  }
  out += "</tbody></table></section>\n";
  return out;
}

std::string functions_html(const json& report) {
  const json* d = field(report, "discovery");
  if (!d) return {};
  const json& functions = array_of(*d, "functions");
  if (functions.empty()) return {};
  std::string out =
      "<section id=\"discovery\"><h2>Injectable functions the unfaulted workload reached</h2>\n<table class=\"functions\">"
      "<thead><tr><th>function</th><th>type</th><th>calls</th></tr></thead><tbody>\n";
  for (const auto& f : functions)
    out += fmt::format("<tr class=\"function\" data-function=\"{0}\"><td><code>{0}</code></td><td>{1}</td><td>{2}</td></tr>\n",
                       esc(text_of(f, "function")), esc(text_of(f, "type")), esc(text_of(f, "calls")));
  out += "</tbody></table></section>\n";
  return out;
}

std::string runs_html(const std::vector<const json*>& runs) {
  if (runs.empty()) return "<section id=\"runs\"><h2>Runs</h2><p class=\"none\" id=\"no-runs\">No runs in this report.</p></section>\n";
  std::string out =
      "<section id=\"runs\"><h2>Runs</h2>\n<table class=\"runs\"><thead><tr><th>run</th><th>site</th><th>variant</th>"
      "<th>outcome</th><th>exit</th><th>fired</th><th>time</th><th>title or detail</th><th>stack</th><th>evidence</th>"
      "<th>scenario</th></tr></thead><tbody>\n";
  for (const json* r : runs) {
    SiteKey k = site_of(*r);
    std::string outcome = text_of(*r, "outcome"), id = run_id_text(*r);
    std::string title = text_of(*r, "title"), detail = text_of(*r, "detail");
    std::string what;
    if (!title.empty()) what += "<div class=\"title\">" + esc(title) + "</div>";
    if (!detail.empty()) what += "<div class=\"detail-line\">" + esc(detail) + "</div>";
    const json* site = field(*r, "site");
    std::vector<std::string> frames = site ? strings_of(*site, "stack") : std::vector<std::string>{};
    std::string scenario = text_of(*r, "scenario");
    out += fmt::format(
        "<tr class=\"run\" id=\"run-{0}\" data-run=\"{0}\" data-site=\"{1}\" data-variant=\"{2}\" data-outcomes=\"{3}\">"
        "<td>{0}</td><td>{4}</td><td>{2}</td><td class=\"outcome {3}\" data-outcome=\"{3}\">{5}</td><td>{6}</td><td>{7}</td>"
        "<td>{8}</td><td class=\"detail\">{9}</td><td>{10}</td><td>{11}</td><td>{12}</td></tr>\n",
        esc(id), esc(k.row_key), esc(k.variant), outcome_class(outcome), esc(k.row_name), outcome_label(outcome),
        esc(text_of(*r, "exit_code")), esc(text_of(*r, "fired")), seconds_text(number_of(*r, "duration_s")), what,
        frames.empty() ? "" : compact_stack(frames), evidence_links(*r),
        scenario.empty() ? "" : link_or_text(scenario, scenario, "class=\"scenario\""));
  }
  out += "</tbody></table></section>\n";
  return out;
}

}  // namespace

std::string render_explore_html(const nlohmann::json& report) {
  std::vector<const json*> runs;
  for (const auto& r : array_of(report, "runs"))
    if (r.is_object()) runs.push_back(&r);
  std::map<std::string, const json*> runs_by_id;
  for (const json* r : runs) runs_by_id.emplace(run_id_text(*r), r);

  // Rows keyed by site, in the order the runs name them; columns per variant.
  std::vector<Row> rows;
  std::map<std::string, std::size_t> row_index;
  for (const json* r : runs) {
    SiteKey k = site_of(*r);
    auto [it, fresh] = row_index.emplace(k.row_key, rows.size());
    if (fresh) rows.push_back(Row{k, {}, {}, kOutcomes.size(), {}});
    Row& row = rows[it->second];
    if (row.frames.empty())
      if (const json* site = field(*r, "site")) row.frames = strings_of(*site, "stack");
    row.cells[k.variant].push_back(r);
    std::string outcome = text_of(*r, "outcome");
    row.worst = std::min(row.worst, outcome_rank(outcome));
    note_outcome(row.outcomes, outcome_class(outcome));
  }
  auto by_attention = [](const Row* a, const Row* b) {
    if (a->worst != b->worst) return a->worst < b->worst;
    if (a->key.nth != b->key.nth) return a->key.nth < b->key.nth;
    return a->key.row_key < b->key.row_key;
  };
  std::map<std::string, std::vector<Row*>> by_kind;
  for (auto& r : rows) by_kind[r.key.kind].push_back(&r);
  for (auto& [kind, list] : by_kind) std::sort(list.begin(), list.end(), by_attention);

  std::vector<std::string> argv = strings_of(field(report, "workload") ? *field(report, "workload") : json::object(), "command");
  std::string page_title = "faultbox explore";
  if (!argv.empty()) page_title += ": " + join(argv, " ");

  const json* complete = field(report, "complete");
  bool partial = complete && complete->is_boolean() && !complete->get<bool>();

  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  out += fmt::format(
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src {}; "
      "img-src data:\">\n",
      script_hash_source());
  out += "<meta name=\"generator\" content=\"faultbox explore\">\n";
  out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n", esc(page_title), kStyle);
  out += "<h1>faultbox explore</h1>\n";
  if (partial) {
    // stopped_because (the engine's word: "interrupted", "over --budget", ...) when it says more.
    std::string why = text_of(report, "stopped_because");
    out += fmt::format(
        "<div class=\"banner partial\" id=\"partial\" role=\"alert\">partial: interrupted{} &mdash; the exploration did not "
        "finish (Ctrl-C or over its budget); runs not reached are counted as not-run</div>\n",
        why.empty() || why == "interrupted" ? std::string() : " (" + esc(why) + ")");
  }
  if (text_of(report, "format") != "faultbox-explore/1")
    out += fmt::format("<div class=\"banner partial\" id=\"format\">unexpected report format: {}</div>\n",
                       esc(text_of(report, "format")));
  out += facts_html(report);
  out += "<h2>Outcomes</h2>\n" + counts_html(report, runs);

  static constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kKinds{{
      {"nth", "fail-nth sites (the Nth fault site the workload reaches fails once)"},
      {"function", "Injectable functions (return value &times; once or always)"},
      {"block", "Block faults (the Nth request to a disk fails once, or every request fails)"},
  }};
  for (const auto& [kind, heading] : kKinds) {
    auto it = by_kind.find(std::string(kind));
    if (it != by_kind.end()) out += matrix_html(kind, heading, it->second, columns_of(runs, kind));
  }
  for (const auto& entry : by_kind) {
    const std::string& kind = entry.first;  // named, not a structured binding: clang 14 cannot capture those
    bool known = std::any_of(kKinds.begin(), kKinds.end(), [&](const auto& k) { return k.first == kind; });
    if (!known) out += matrix_html(kind, "Other sites", entry.second, columns_of(runs, kind));
  }
  out += groups_html(report, runs_by_id);
  out += functions_html(report);
  out += runs_html(runs);
  out += fmt::format("<script>{}</script>\n</body></html>\n", kScript);
  return out;
}

}  // namespace fb
