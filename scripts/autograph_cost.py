"""What AutoGraph's conversion of tfvae's own code costs each command: TensorFlow's default against tfvae's rule.

    python scripts/autograph_cost.py --data-dir ../shared/data/mnist --ptb-dir ../shared/data/ptb --repeats 3

``tfvae.backend`` tells AutoGraph not to rewrite tfvae's functions (as TensorFlow does for TFP and Keras). This
script measures what that saves. Each command below runs in a fresh Python process, once per setting and repeat,
the two settings alternating so that a load on the machine falls on both:

* ``tensorflow default``: the rule removed right after ``import tfvae.backend``, so AutoGraph converts every tfvae
  function that a traced function calls (what tfvae did before the rule);
* ``tfvae rule``: the package as shipped.

The commands are the CLI's own, on small slices of the real data (so tracing, not arithmetic, dominates, as it
does for the tests and for a user's first call): ``train`` (1 epoch), ``evaluate`` (K = 5, 50 images) and
``export`` of an image VAE, and ``train`` and ``evaluate`` of a small sentence VAE. Each child reports the
seconds from the command's start to its end (the TensorFlow import is done before the clock starts) and how
many functions AutoGraph converted. Results go to ``scripts/results/autograph-<date>.json``.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = ("tensorflow default", "tfvae rule")


def child(setting, argv):
    """Runs ``tfvae argv`` in this process under ``setting``; prints ``{"seconds", "conversions"}`` as JSON."""
    from tensorflow.python.autograph.core import config
    from tensorflow.python.autograph.pyct import transpiler

    import tfvae.backend  # noqa: F401  (adds the rule)

    if setting == "tensorflow default":
        config.CONVERSION_RULES = tuple(r for r in config.CONVERSION_RULES if getattr(r, "_prefix", None) != "tfvae")
    conversions = [0]
    transform = transpiler.PyToPy.transform_function

    def counted(self, fn, user_context):  # counts, does not change, AutoGraph's work
        conversions[0] += 1
        return transform(self, fn, user_context)

    transpiler.PyToPy.transform_function = counted
    from tfvae.cli import main

    start = time.perf_counter()
    try:
        main(argv)
    except SystemExit as stop:
        if stop.code:
            raise
    print(json.dumps({"seconds": time.perf_counter() - start, "conversions": conversions[0]}))


def _ptb_slice(source, target, counts=(("train", 500), ("valid", 100), ("test", 100))):
    target.mkdir()
    for split, n in counts:
        lines = (source / f"ptb.{split}.txt").read_text().splitlines()[:n]
        (target / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")


def commands(work):
    """``(name, argv, fresh out path or None)``: each command reads what an earlier one of the same repeat wrote."""
    image, text = work / "image_run", work / "text_run"
    return [
        ("image train", ["train", "--data-dir", work / "mnist", "--epochs", "1", "--validation-size", "500",
                         "--verbose", "0", "--out", image], image),
        ("image evaluate", ["evaluate", image, "-k", "5", "--limit", "50"], None),
        ("image export", ["export", image, "--out", work / "exported"], work / "exported"),
        ("text train", ["train", "--dataset", "text", "--data-dir", work / "ptb", "--arch", "lstm", "--epochs", "1",
                        "--latent-dim", "8", "--embedding-dim", "32", "--rnn-units", "32", "--verbose", "0",
                        "--out", text], text),
        ("text evaluate", ["evaluate", text, "-k", "5", "--limit", "50"], None),
    ]  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/mnist"))
    parser.add_argument("--ptb-dir", type=Path, default=Path("../shared/data/ptb"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="default: scripts/results/autograph-<date>.json")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1:])
    for path, what in ((args.data_dir, "MNIST"), (args.ptb_dir, "Penn Treebank")):
        if not path.is_dir():
            parser.error(f"{path} is not a directory of the {what} files")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    from tfvae.data import write_idx_subset  # the parent only slices the data; each child measures

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    raw = {setting: {} for setting in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for repeat in range(args.repeats):
            for setting in SETTINGS if repeat % 2 == 0 else SETTINGS[::-1]:
                work = tmp / f"{repeat}-{setting.replace(' ', '_')}"
                work.mkdir()
                write_idx_subset(args.data_dir, work / "mnist", train=2000, test=500)
                _ptb_slice(args.ptb_dir, work / "ptb")
                for name, argv, _ in commands(work):
                    result = subprocess.run(
                        [sys.executable, __file__, "--child", setting, *map(str, argv)],
                        capture_output=True, text=True, env=env, check=False,
                    )  # fmt: skip
                    if result.returncode != 0:
                        sys.exit(f"{name} ({setting}) failed:\n{result.stderr[-3000:]}")
                    measured = json.loads(result.stdout.strip().splitlines()[-1])
                    raw[setting].setdefault(name, []).append(measured)
                    print(f"repeat {repeat + 1} {setting:>18}  {name:<15} {measured['seconds']:6.2f} s  "
                          f"{measured['conversions']:4d} conversions", flush=True)  # fmt: skip
    summary = {}
    for name in raw[SETTINGS[0]]:
        base, rule = (statistics.median(m["seconds"] for m in raw[s][name]) for s in SETTINGS)
        summary[name] = {
            "seconds_tensorflow_default": round(base, 2),
            "seconds_tfvae_rule": round(rule, 2),
            "saved_seconds": round(base - rule, 2),
            "conversions_tensorflow_default": raw[SETTINGS[0]][name][0]["conversions"],
            "conversions_tfvae_rule": raw[SETTINGS[1]][name][0]["conversions"],
        }
        print(f"{name:<15} median {base:6.2f} s -> {rule:6.2f} s  (saves {base - rule:5.2f} s)")
    out = args.out or Path(__file__).parent / "results" / f"autograph-{datetime.date.today()}.json"
    out.write_text(
        json.dumps(
            {
                "date": str(datetime.date.today()),
                "command": " ".join(["python", "scripts/autograph_cost.py", *sys.argv[1:]]),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                "what": "seconds of each CLI command after the TensorFlow import, in a fresh process; medians of "
                "--repeats, the two settings alternating",
                "summary": summary,
                "raw": raw,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
