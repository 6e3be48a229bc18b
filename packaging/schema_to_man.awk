# faultbox-scenario(5) from `faultbox check --schema` (the Markdown key tables of
# docs/scenarios.md): a section per "### title", a tagged paragraph per "| `key` | ... |" row.
function roff(s) {
  gsub(/\\/, "\\e", s)
  while (match(s, /`[^`]*`/)) s = substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART + 1, RLENGTH - 2) "\\fR" substr(s, RSTART + RLENGTH)
  sub(/^[.']/, "\\\\\\&&", s)  # a leading . or ' would be a roff request: \& before it
  return s
}
function trim(s) { gsub(/^ +| +$/, "", s); return s }
BEGIN {
  print ".TH FAULTBOX-SCENARIO 5 \"\" \"" version "\" \"File Formats\""
  print ".SH NAME"
  print "faultbox-scenario \\- the scenario file format of faultbox run and faultbox check"
  print ".SH DESCRIPTION"
  print "A scenario is one fault-injection experiment in a TOML file: the VM, the disks, the faults,"
  print "the steps that run while the faults are armed, and what must be true afterwards."
  print "\\fBfaultbox check\\fR validates a file without booting; \\fBfaultbox run\\fR runs it."
  print "The key tables below are generated from the parser's own schema."
  print "The guide with worked examples is /usr/share/doc/faultbox/scenarios.md and the examples are in"
  print "/usr/share/doc/faultbox/examples/."
  print ".SH KEYS"
}
/^### / { print ".SS " roff(substr($0, 5)); next }
/^\| `/ {
  n = split($0, cell, "|")
  key = trim(cell[2]); type = trim(cell[3]); req = trim(cell[4]); range = trim(cell[5]); doc = trim(cell[6])
  print ".TP"
  attrs = type (req == "yes" ? ", required" : "") (range != "" ? ", " range : "")
  print roff(key) " (" roff(attrs) ")"
  print roff(doc)
}
END {
  print ".SH SEE ALSO"
  print ".BR faultbox (1),"
  print ".BR faultbox-check (1),"
  print ".BR faultbox-run (1)"
}
