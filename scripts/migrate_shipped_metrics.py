"""One migration (2026-12-06, issue 42): the shipped ``metrics.json`` files made true and traceable.

    python scripts/migrate_shipped_metrics.py          # rewrites saved_models/*/*/metrics.json in place

What it changes, each from a recorded source (the README's and docs/results.md's rows, scripts/results/, git):

- ``train_seconds`` that timed only a resumed run's last invocation (0.24-0.37 s for 15-150 epochs; 122 s for
  200 epochs) become the run's seconds of epochs as the result tables recorded them, with
  ``train_seconds_source`` saying where the figure comes from;
- the absolute path of the training machine in ``run`` becomes the path relative to the repository;
- an ``evaluations`` list: every evaluation behind a published number (K, split, examples, the estimate, the
  date, the command), so that each README number is in the file beside the model
  (``tests/test_shipped_models.py::test_shipped_metrics_are_true_and_traceable``).

Idempotent: a second run changes nothing, and exports made after it (by ``tfvae export`` of 0.3 or later) are
left as they are. Exports written by ``tfvae export`` from now on carry their run's
evaluations themselves (``tfvae.runs.evaluation_record``); this script is for the ones shipped before.
"""

import json
import subprocess
from pathlib import Path

from tfvae.runs import EVALUATION_RECORD_KEYS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "scripts" / "results"

# The run's seconds of epochs where metrics.json recorded a fraction of them: (value, where it was recorded).
TRAIN_SECONDS = {
    "mnist_hvae2_ladder_vamp/1": (
        3300,
        "about 3,300 s of epochs, the README's MNIST table (history.csv of that run "
        "had no epoch times; the session's log)",
    ),
    "mnist_mlp_vamp/1": (2656, "2,656 s of epochs, the README's MNIST table"),
    "mnist_hvae2_ladder_vamp/2": (
        4803.75,
        "the 250 epochs of this run, continued from version 1's weights "
        "(--init-from): about 8,100 s for the 400 with version 1's",
    ),
}
# Evaluation commands of the image models, as docs/results.md records them.
IMAGE_COMMANDS = {
    "mnist_mlp_bernoulli/1": "python scripts/train_mnist.py --data-dir ../shared/data/mnist --epochs 30 "
    "--num-samples 5000 --conv-num-samples 100 --models mnist_mlp_bernoulli",
    "mnist_mlp_bernoulli/2": "tfvae evaluate runs/mnist_mlp_long --num-samples 5000",
    "mnist_mlp_iwae5/1": "tfvae evaluate runs/mnist_iwae5_long -k 5000",
    "mnist_mlp_vamp/1": "tfvae evaluate runs/mnist_vamp2 -k 5000",
    "mnist_hvae2_iwae5/1": "tfvae evaluate runs/mnist_hvae2_iwae5 -k 5000",
    "mnist_hvae2_ladder_vamp/1": "tfvae evaluate runs/mnist_hvae2_ladder_vamp -k 5000",
    "mnist_hvae2_ladder_vamp/2": "tfvae evaluate runs/mnist_hvae2_ladder_vamp_v2 -k 5000",
}
# The estimate and its settings, as tfvae.runs keeps them; split, date and command are this script's to give.
RECORD_KEYS = tuple(
    key for key in EVALUATION_RECORD_KEYS if key not in ("split", "dataset", "binarization", "date", "command")
)


def date_added(path):
    """The day git first saw ``path`` (the day the model shipped), or None for a file not yet committed."""
    out = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%ad", "--date=short", "--", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[-1] if out else None


def record(result, date, command, split="test"):
    """One evaluation: the estimate and how it was made."""
    return {
        "split": split,
        **{key: result[key] for key in RECORD_KEYS if key in result},
        "date": date,
        "command": command,
    }


def migrate(version):
    name = f"{version.parent.name}/{version.name}"
    path = version / "metrics.json"
    metrics = json.loads(path.read_text())
    date = date_added(path) or "2026-12-06"
    if isinstance(metrics.get("run"), str) and metrics["run"].startswith("/"):
        metrics["run"] = metrics["run"][metrics["run"].index("runs/") :]
    if name in TRAIN_SECONDS:
        seconds, source = TRAIN_SECONDS[name]
        metrics["metrics"]["train_seconds"] = seconds
        metrics["metrics"]["train_seconds_source"] = source
    if "train" in metrics and "train_seconds" in metrics.get("eval", {}):
        # A PTB run's own metrics.json block timed its last invocation; the table's row has the sum.
        metrics["train"]["train_seconds"] = metrics["eval"]["train_seconds"]
        metrics["train"]["train_seconds_source"] = "the PTB table's row (eval.train_seconds), from the run's log"
    evaluations = []
    if name in IMAGE_COMMANDS:
        evaluations.append(record(metrics["eval"], date, IMAGE_COMMANDS[name]))
    elif "eval" in metrics:  # a PTB export: the table's K = 10 row, then K = 500 over the split where scored
        table = metrics["eval"]
        evaluations.append(record(table, date, f"python scripts/ptb_table.py -k {table['num_samples']}"))
        for scored in sorted(RESULTS.glob(f"ptb-k500-ptb_sentence_vae-{version.name}-*.json")):
            result = json.loads(scored.read_text())
            evaluations.append(
                {**record(result, result["date"], result["command"]), "source": str(scored.relative_to(ROOT))}
            )
    metrics["evaluations"] = evaluations
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    return name, len(evaluations)


def shipped_before_the_migration(version):
    """Whether ``version`` is one this script is for: an image export named in ``IMAGE_COMMANDS``, or PTB versions 1
    to 5. Later exports carry their own evaluations and are left as they are."""
    name = f"{version.parent.name}/{version.name}"
    return name in IMAGE_COMMANDS or (version.parent.name == "ptb_sentence_vae" and int(version.name) <= 5)


if __name__ == "__main__":
    for version in sorted(p for p in (ROOT / "saved_models").glob("*/*") if p.name.isdigit()):
        if shipped_before_the_migration(version):
            print(*migrate(version))
        else:
            print(f"{version.parent.name}/{version.name}: exported by tfvae 0.3 or later, left as it is")
