// faultbox __complete: what shell completion asks faultbox, so the completion script holds no
// copy of the subcommands, options or fault types (they come from the CLI11 definitions and the
// fault-type registry). Hidden from --help: it is for packaging/faultbox.bash, not for people.
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/exit_codes.h"
#include "orchestrator/core/scenario.h"

#include <cstdio>

namespace fb::cli {

namespace {

// "sub NAME", "flag --x" or "option --x" (takes a value), "positional NAME": one line each, for
// the command reached from the top by the subcommand names in `path` (unknown words are skipped,
// as they are option values or positionals on the command line being completed).
int print_words(CLI::App& top, const std::vector<std::string>& path) {
  CLI::App* at = &top;
  for (auto& w : path) {
    for (auto* sub : at->get_subcommands({}))
      if (sub->get_name() == w) {
        at = sub;
        break;
      }
  }
  for (auto* sub : at->get_subcommands({}))
    if (!sub->get_group().empty()) printf("sub %s\n", sub->get_name().c_str());
  // Options of the enclosing commands too: CLI11 accepts --cache-dir after the subcommand.
  for (CLI::App* a = at; a; a = a->get_parent())
    for (auto* opt : a->get_options()) {
      if (!opt->nonpositional()) {
        if (a == at) printf("positional %s\n", opt->get_name().c_str());
        continue;
      }
      const char* kind = opt->get_expected_max() == 0 ? "flag" : "option";
      for (auto& l : opt->get_lnames()) printf("%s --%s\n", kind, l.c_str());
      for (auto& s : opt->get_snames()) printf("%s -%s\n", kind, s.c_str());
    }
  return exit_code::kPass;
}

}  // namespace

CommandMain add_complete(CLI::App& app) {
  auto what = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("__complete", "answers for shell completion")->group("");
  cmd->add_option("what", *what, "words | fault-types")->required()->check(CLI::IsMember({"words", "fault-types"}));
  // After WHAT, the words typed so far, options included: left unparsed, read as remaining().
  cmd->prefix_command();
  return [&app, cmd, what]() -> int {
    if (*what == "fault-types") {
      for (auto& t : fault_types()) printf("%s\n", t.c_str());
      return exit_code::kPass;
    }
    return print_words(app, cmd->remaining());
  };
}

}  // namespace fb::cli
