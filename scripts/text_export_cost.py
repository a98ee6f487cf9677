"""What a sentence VAE's export costs, this checkout against another (the baseline: the code before a change).

    git worktree add /tmp/before <commit>
    python scripts/text_export_cost.py --baseline-tree /tmp/before --repeats 3

Times ``export_sentence_model`` on the test harness's four exported text variants (``tests/test_harness.py``:
a language model, tied embeddings, a bidirectional GRU with the initial-state injection, word dropout with the
input injection). Each repeat runs one fresh process per tree, the two trees alternating (this checkout first);
each process exports the first variant once untimed (TensorFlow's first export in a process costs more), then
every variant once, timed. Writes
``scripts/results/text-export-cost-<date>.json`` with the host's processor and float32 matmul peak.
"""

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = (
    "text_language_model",
    "text_tied_embeddings",
    "text_gru_initial_state_bidirectional",
    "text_inputs_word_dropout",
)

# Run in a fresh process with the tree's tfvae and tests on sys.path; prints one JSON line {variant: seconds}.
CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
tree, variants = sys.argv[1], sys.argv[2].split(",")
sys.path[:0] = [tree, tree + "/tests"]
import test_harness
from conftest import sentence_vocabulary
from tfvae import sentence_export
assert sentence_export.__file__.startswith(tree), sentence_export.__file__
seconds = {}
with tempfile.TemporaryDirectory() as work:
    for phase, name in [("untimed", variants[0])] + [("timed", name) for name in variants]:
        model = test_harness._build(name)
        start = time.perf_counter()
        sentence_export.export_sentence_model(model, sentence_vocabulary(), Path(work) / phase / name, 1)
        seconds[name] = round(time.perf_counter() - start, 2)
print(json.dumps(seconds))
"""


def export_seconds(tree):
    """``{variant: seconds}`` of one fresh process exporting with the tfvae of ``tree``."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), ",".join(VARIANTS)],
        capture_output=True,
        text=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-tree", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "scripts"))
    from benchmark import matmul_peak_gflops

    trees = {"this_checkout": REPO, "baseline": args.baseline_tree.resolve()}
    seconds = {way: {name: [] for name in VARIANTS} for way in trees}
    for repeat in range(args.repeats):
        for way, tree in trees.items():
            for name, value in export_seconds(tree).items():
                seconds[way][name].append(value)
            print(f"repeat {repeat + 1}: {way} {json.dumps({n: v[-1] for n, v in seconds[way].items()})}", flush=True)
    medians = {way: {name: statistics.median(v) for name, v in by.items()} for way, by in seconds.items()}
    commits = {
        way: subprocess.run(
            ["git", "-C", str(tree), "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip()
        for way, tree in trees.items()
    }
    result = {
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python", "scripts/text_export_cost.py", *sys.argv[1:]]),
        "processor": platform.processor() or platform.machine(),
        "cpu": next(
            (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), None
        ),
        "matmul_peak_gflops": matmul_peak_gflops(),
        "commits": commits,
        "what": "seconds of export_sentence_model per harness text variant, after one untimed export in the process",
        "seconds": seconds,
        "median_seconds": medians,
        "median_total": {way: round(sum(by.values()), 2) for way, by in medians.items()},
    }
    out = args.out or REPO / "scripts" / "results" / f"text-export-cost-{result['date']}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["median_total"]), "->", out)


if __name__ == "__main__":
    main()
