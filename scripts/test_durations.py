"""Where the test suite's time goes: pytest's ``--durations=0`` report, grouped by what each test proves.

    TFVAE_DATA_DIR=../shared/data/mnist python -m pytest -n 2 -q --durations=0 > fast.log
    python scripts/test_durations.py fast.log --label "fast tier, fresh clone" --out durations.json

Each line ``12.34s call     tests/test_x.py::test_y[id]`` is one phase (setup, call, teardown) of one test; a
test's seconds are the sum of its phases. The groups (``CATEGORIES``, first match wins) follow what a test proves:
a unit check, a harness variant, a README or site block, the shipped models' scores, an end-to-end command, or a
multi-process check. With ``-n 2`` the sum of the tests' seconds is about twice the wall time; the wall time is the
summary line's, copied into the JSON.
"""

import argparse
import collections
import datetime
import json
import re
import subprocess
from pathlib import Path

# (group, regular expression on "file::test"): the first that matches names the test's group.
CATEGORIES = (
    ("README/docs block", r"^tests/test_readme\.py::test_readme_block"),
    ("harness variant", r"^tests/test_harness\.py::"),
    ("shipped-model scoring", r"^tests/test_shipped_models\.py::"),
    (
        "multi-process (kill, locks, fresh interpreters, subprocess CLI)",
        r"^tests/test_(ownership|keras3_workflow|packaging)\.py::|::test_\w*(subprocess|fresh_process|killed|kill)\w*",
    ),
    (
        "command line end to end (train, evaluate, score, export on files)",
        r"^tests/test_(cli|own_data|table|scoring|artifacts|boundaries|generation)\.py::",
    ),
    ("export and TFLite parity", r"^tests/test_export\.py::"),
    ("unit (models, objectives, data, options, training loop, text)", r"."),
)
LINE = re.compile(r"^\s*([\d.]+)s\s+(setup|call|teardown)\s+(\S+)")
SUMMARY = re.compile(r"=+ (.*(passed|failed).*) =+$|^(\d+ (passed|failed).* in [\d.]+s.*)$")


def read_durations(path):
    """``({test: seconds}, summary line)`` from a pytest log with ``--durations=0``."""
    seconds, summary = collections.defaultdict(float), None
    for line in Path(path).read_text().splitlines():
        match = LINE.match(line)
        if match:
            seconds[match.group(3)] += float(match.group(1))
        found = SUMMARY.search(line.strip())
        if found:
            summary = (found.group(1) or found.group(3)).strip()
    return dict(seconds), summary


def group_of(test):
    """The first ``CATEGORIES`` group whose expression matches ``test`` (``file::name[id]``)."""
    return next(name for name, pattern in CATEGORIES if re.search(pattern, test))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", help="pytest's output with --durations=0")
    parser.add_argument("--label", default="", help="what was run, where (a fresh clone, the machine)")
    parser.add_argument("--command", default="", help="the pytest command that wrote the log")
    parser.add_argument("--out", required=True, help="the JSON to write")
    args = parser.parse_args()

    seconds, summary = read_durations(args.log)
    groups = collections.defaultdict(lambda: {"tests": 0, "seconds": 0.0})
    by_file = collections.defaultdict(float)
    for test, value in seconds.items():
        groups[group_of(test)]["tests"] += 1
        groups[group_of(test)]["seconds"] += value
        by_file[test.split("::")[0]] += value
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "command": args.command,
        "where": args.label,
        "result": summary,
        "test_seconds_total": round(sum(seconds.values()), 1),
        "by_category": {
            name: {"tests": value["tests"], "seconds": round(value["seconds"], 1)}
            for name, value in sorted(groups.items(), key=lambda item: -item[1]["seconds"])
        },
        "by_file": {name: round(value, 1) for name, value in sorted(by_file.items(), key=lambda item: -item[1])},
        "by_test_over_10s": {
            test: round(value, 1) for test, value in sorted(seconds.items(), key=lambda item: -item[1]) if value > 10
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{summary}\n{result['test_seconds_total']:.0f} s of tests:")
    for name, value in result["by_category"].items():
        print(f"  {value['seconds']:8.1f} s  {value['tests']:4d} tests  {name}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
