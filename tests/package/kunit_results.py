# Reads KTAP with the kernel's own parser (tools/testing/kunit/kunit_parser.py from
# linux-source, whose directory is argv[1]) and prints what it understood as JSON: for each
# top-level test its name, status, counts and subtests, into argv[3] (stdout gets the parser's
# own summary). faultbox wrote the KTAP; this only reports the parser's reading, the test
# script judges it.
import json, sys

sys.path.insert(0, sys.argv[1])
import kunit_parser

def tree(t):
    return {"name": t.name, "status": t.status.name, "log": t.log,
            "counts": {"passed": t.counts.passed, "failed": t.counts.failed, "crashed": t.counts.crashed,
                       "skipped": t.counts.skipped, "errors": t.counts.errors},
            "subtests": [tree(s) for s in t.subtests]}

with open(sys.argv[2]) as f:
    lines = f.readlines()
main = kunit_parser.parse_run_tests(lines)
with open(sys.argv[3], "w") as f:
    json.dump(tree(main), f)
