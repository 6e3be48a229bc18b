#pragma once
// The explore report as one HTML page a person opens from the evidence dir: the fault sites as
// rows, the injection variants as columns, each cell coloured by the run's outcome and linked to
// its evidence. Everything is inline (CSS, one small script allowed by its hash in the page's
// Content-Security-Policy), so the page needs no network and loads nothing else.
#include <nlohmann/json.hpp>

#include <string>

namespace fb {

// A self-contained HTML page (inline CSS/JS, no network) of an explore report; links are
// relative to the directory that holds explore.json.
std::string render_explore_html(const nlohmann::json& explore_report);

}  // namespace fb
