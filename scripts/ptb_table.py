"""The PTB table: the language model and the sentence-VAE recipes of ``configs/ptb``, scored on the test split.

    python scripts/train_ptb.py                       # first: train the runs (hours on a 2-core CPU)
    python scripts/ptb_table.py -k 50                 # score them: table, JSON and the collapse figure
    python scripts/ptb_table.py --convergence bn_vae --limit 200   # K = 10, 100, 500 on 200 sentences
    python scripts/ptb_table.py --score-export saved_models/ptb_sentence_vae/3 -k 500   # a shipped model

For each finished run under ``--runs`` (``runs/ptb/<name>``, trained by
``scripts/train_ptb.py`` from ``configs/ptb/<name>.json``): the
importance-weighted NLL per sentence with K samples
(``tfvae.evaluation.evaluate_sentences``; a language model's ELBO is log p(x)
exactly, so K = 1), perplexity with ``<eos>`` counted (82,430 test tokens),
-ELBO, KL, mutual information, active units, epochs, whether early stopping
ended the run, and the seconds of training and scoring. Prior samples and a
homotopy of each VAE. Writes ``scripts/results/ptb-table-<date>.json``,
``docs/images/ptb-collapse.png`` (``tfvae.plots.plot_collapse``: KL, MI and
-ELBO per epoch) and prints a markdown table.

``--ship NAME`` exports that run to ``saved_models/ptb_sentence_vae/<--version>`` with
float16 weights, after measuring what float16 changes: log p(x) of the first
500 test sentences through the float32 and the float16 export (same K = 20
samples). Its ``metrics.json`` holds the run's metrics, the table's row for
it (if scored), the float16 change and a check that
``tests/test_shipped_models.py`` repeats with TensorFlow alone.

``--convergence NAME`` instead scores one run's first ``--limit`` test
sentences at K = 10, 100 and 500 (the same sentences and seed): the estimate
must rise with K and level off; the seconds give the cost of K = 500 on the
whole split.
"""

import argparse
import datetime
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfvae import text  # noqa: E402
from tfvae.evaluation import evaluate_sentences  # noqa: E402
from tfvae.plots import plot_collapse, read_history  # noqa: E402
from tfvae.runs import EVALUATION_RECORD_KEYS, evaluation_records, load_run, load_run_settings, load_vocabulary  # noqa: E402  # noqa: E402
from tfvae.text import load_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RECIPES = {  # name under configs/ptb -> what the row is
    "lm": "LSTM language model",
    "lm_dropout": "LSTM language model, dropout 0.3",
    "bowman": "KL annealing + word dropout 0.25 (Bowman et al.)",
    "cyclical": "cyclical KL annealing (Fu et al.)",
    "bowman_dropout": "KL annealing over 5 epochs + word dropout 0.25 (Bowman et al.), decoder dropout 0.3",
    "bn_vae": "BN-VAE, gamma 0.6 (Zhu et al.)",
    "bn_vae_dropout": "BN-VAE, gamma 0.6, decoder dropout 0.3",
    "bn_vae_dropout05": "BN-VAE, gamma 0.6, decoder dropout 0.5",
    "bn_vae_dropout05_from_v3": "BN-VAE, gamma 0.6, decoder dropout 0.5, fine-tuned from version 3 (dropout 0.3)",
    "bn_vae_dropout_tied": "BN-VAE, gamma 0.6, decoder dropout 0.3, tied embeddings",
}
HISTORY_KEYS = ("val_kl", "mi", "active_units", "val_negative_elbo", "val_reconstruction")  # per epoch
SCORES = (
    "nll",
    "nll_stderr",
    "ppl",
    "elbo",
    "ppl_elbo",
    "reconstruction",
    "kl",
    "mi",
    "active_units",
    "tokens",
    "num_samples",
    "num_examples",
    "seconds",
)


def epoch_seconds(log_path):
    """The seconds of every epoch that Keras printed to a run's log (``verbose 2``), over all invocations.

    A resumed run's ``metrics.json`` times only its last invocation; the log has them all.
    """
    if not Path(log_path).exists():
        return []
    return [int(m.group(1)) for m in re.finditer(r"^\d+/\d+ - (\d+)s - loss", Path(log_path).read_text(), re.M)]


def epochs_before(run_dir):
    """Epochs the weights a run started from had already trained (``init_from``; 0 for a run from scratch)."""
    source = json.loads((Path(run_dir) / "config.json").read_text())["train"].get("init_from")
    if not source:
        return 0
    metrics = json.loads((ROOT / source / "metrics.json").read_text())
    return metrics.get("train", metrics)["epochs_trained"]  # an export's metrics.json nests the run's


def score(run_dir, num_samples, limit, seed=0):
    """``evaluate_sentences`` on the run's test split (the first ``limit`` sentences)."""
    model, vocabulary = load_run(run_dir), load_vocabulary(run_dir)
    sentences = load_text(load_run_settings(run_dir)).test[:limit]
    k = 1 if model.latent_dim == 0 else num_samples
    return (
        model,
        vocabulary,
        evaluate_sentences(model, text.encode_sentences(vocabulary, sentences), num_samples=k, seed=seed, verbose=0),
    )


def score_export(path, data_dir, num_samples, limit, seed=0):
    """``evaluate_sentences`` on an export's Python model (``served.rebuild``: the scoring path of a run, not the
    signatures the export was traced with) over the first ``limit`` test sentences of ``data_dir``."""
    from tfvae.served import load_vocabulary, rebuild

    vocabulary = load_vocabulary(path)
    sentences = text.load_text_dir(data_dir).test[:limit]
    ids = text.encode_sentences(vocabulary, sentences)
    return evaluate_sentences(rebuild(path), ids, num_samples=num_samples, seed=seed, verbose=0)


def convergence(run_dir, limit):
    """K = 10, 100, 500 on the same ``limit`` sentences: NLL, its standard error and seconds."""
    rows = []
    for k in (10, 100, 500):
        _, _, scores = score(run_dir, k, limit)
        rows.append({key: scores[key] for key in ("num_samples", "nll", "nll_stderr", "seconds", "num_examples")})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def ship(run_dir, table_path, out=ROOT / "saved_models" / "ptb_sentence_vae", version=1):
    """Exports ``run_dir`` with float16 weights to ``out/version`` with its metrics; returns that path."""
    import shutil
    import tempfile

    import numpy as np

    from tfvae.backend import tf
    from tfvae.sentence_export import export_sentence_model

    model, vocabulary = load_run(run_dir), load_vocabulary(run_dir)
    test = load_text(load_run_settings(run_dir)).test[:500]
    scores, sizes = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for weights in ("float32", "float16"):
            path = export_sentence_model(model, vocabulary, Path(tmp) / weights, 1, weights=weights)
            sizes[weights] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            signature = tf.saved_model.load(str(path)).signatures["log_likelihood"]
            scores[weights] = np.concatenate(
                [
                    signature(sentences=tf.constant(test[i : i + 25]), num_samples=tf.constant(20))["log_px"].numpy()
                    for i in range(0, len(test), 25)
                ]
            )
        target = Path(out) / str(version)
        if target.exists():
            raise FileExistsError(f"{target} exists: remove it or ship another version")
        shutil.copytree(Path(tmp) / "float16" / "1", target)
    _, _, check = score(run_dir, 20, 200)
    table = json.loads(Path(table_path).read_text()) if table_path else {"rows": []}
    row = next((r for r in table["rows"] if r["name"] == Path(run_dir).name), None)
    evaluations = evaluation_records(run_dir)
    if row:
        evaluations.append(
            {
                "split": "test",
                **{key: row[key] for key in EVALUATION_RECORD_KEYS if key in row},
                "date": table.get("date"),
                "command": f"python scripts/ptb_table.py -k {row['num_samples']}",
                "source": table_path,
            }
        )
    run_path = Path(run_dir).resolve()
    metrics = {
        # Relative to the repository: no path of the training machine in what ships.
        "run": str(run_path.relative_to(ROOT)) if run_path.is_relative_to(ROOT) else run_path.name,
        "config": f"configs/ptb/{Path(run_dir).name}.json",
        "train": json.loads((Path(run_dir) / "metrics.json").read_text()),
        "eval": row,
        "float16": {
            "bytes": sizes["float16"],
            "float32_bytes": sizes["float32"],
            "sentences": len(test),
            "num_samples": 20,
            "nll_float32": float(-scores["float32"].mean()),
            "nll_float16": float(-scores["float16"].mean()),
            "max_abs_change": float(np.max(np.abs(scores["float16"] - scores["float32"]))),
        },
        "check": {key: check[key] for key in ("nll", "tokens", "num_samples", "num_examples")},
        "evaluations": evaluations,
    }
    (target / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics["float16"]))
    return target


def main():
    """Scores the runs, writes the JSON and the figure, prints the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(ROOT / "runs" / "ptb"))
    parser.add_argument("-k", "--num-samples", type=int, default=50, help="K of the importance-weighted NLL")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N test sentences")
    parser.add_argument("--only", nargs="*", default=list(RECIPES), help="names under configs/ptb")
    parser.add_argument("--convergence", metavar="NAME", help="K = 10, 100, 500 on one run instead")
    parser.add_argument(
        "--ship", metavar="NAME", help="export this run to saved_models/ptb_sentence_vae/VERSION instead"
    )
    parser.add_argument(
        "--score-export",
        metavar="PATH",
        help="score an export (saved_models/ptb_sentence_vae/N) with -k on the test split of --data-dir instead",
    )
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "ptb"), help="with --score-export")
    parser.add_argument("--version", type=int, default=1, help="with --ship: the export's version number")
    parser.add_argument("--table", help="with --ship: the ptb-table JSON whose row to keep in metrics.json")
    parser.add_argument(
        "--figure-only", action="store_true", help="redraw the figure for the rows of today's table, scoring nothing"
    )
    parser.add_argument(
        "--also",
        nargs="*",
        default=[],
        metavar="TABLE",
        help="earlier ptb-table JSONs whose rows join the figure and the printed table (not today's JSON)",
    )
    parser.add_argument("--figure", default=str(ROOT / "docs" / "images" / "ptb-collapse.png"))
    parser.add_argument("--label", help="results file ptb-table-<date>-<label>.json (a table apart from today's other)")
    args = parser.parse_args()
    if args.label and args.figure == parser.get_default("figure"):
        args.figure = str(ROOT / "docs" / "images" / f"ptb-collapse-{args.label}.png")  # keep the main table's
    date = datetime.date.today().isoformat()
    command = "python scripts/ptb_table.py " + " ".join(sys.argv[1:])
    if args.ship:
        print(f"wrote {ship(Path(args.runs) / args.ship, args.table, version=args.version)}")
        return
    if args.score_export:
        start = time.perf_counter()
        scores = score_export(args.score_export, args.data_dir, args.num_samples, args.limit)
        wall = time.perf_counter() - start
        name = Path(args.score_export).parent.name + "-" + Path(args.score_export).name
        out = ROOT / "scripts" / "results" / f"ptb-k{args.num_samples}-{name}-{date}.json"
        kept = {k: v for k, v in scores.items() if not isinstance(v, list)}  # per-dimension lists left out
        out.write_text(json.dumps({"date": date, "command": command, "wall_seconds": wall, **kept}, indent=2))
        print(json.dumps(kept))
        print(f"wrote {out}")
        return
    if args.convergence:
        rows = convergence(Path(args.runs) / args.convergence, args.limit)
        out = ROOT / "scripts" / "results" / f"ptb-convergence-{date}.json"
        out.write_text(json.dumps({"date": date, "command": command, "run": args.convergence, "rows": rows}, indent=2))
        print(f"wrote {out}")
        return
    rows, histories = [], {}
    for name in [] if args.figure_only else args.only:
        run_dir = Path(args.runs) / name
        if not (run_dir / "metrics.json").exists():
            print(f"{run_dir}: not finished, left out", flush=True)
            continue
        metrics = json.loads((run_dir / "metrics.json").read_text())
        histories[RECIPES[name]] = read_history(run_dir / "history.csv")
        model, vocabulary, scores = score(run_dir, args.num_samples, args.limit)
        row = {
            "name": name,
            "recipe": RECIPES[name],
            "config": f"configs/ptb/{name}.json",
            "epochs_trained": metrics.get("epochs_trained"),
            "stopped_early": metrics.get("stopped_early"),
            "train_seconds": sum(epoch_seconds(Path(args.runs) / f"{name}.log")) or metrics["train_seconds"],
            **{key: scores[key] for key in SCORES},
            # Per-epoch curves kept with the row, so the figure can be drawn again once runs/ is gone.
            "history": {key: values for key, values in histories[RECIPES[name]].items() if key in HISTORY_KEYS},
        }
        if before := epochs_before(run_dir):
            row["history"]["first_epoch"] = histories[RECIPES[name]]["first_epoch"] = before
        if model.latent_dim:
            row["prior_samples"] = [s.decode() for s in vocabulary.strings(model.sample(5, seed=0)).numpy()]
            pair, _ = vocabulary.ids(["the company said it would buy the unit", "the market fell sharply"])
            row["homotopy"] = [s.decode() for s in vocabulary.strings(model.homotopy(pair[:1], pair[1:])).numpy()]
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = ROOT / "scripts" / "results" / f"ptb-table-{date}{'-' + args.label if args.label else ''}.json"
    # Rows scored by an earlier invocation today stay unless scored again (runs finish at different times).
    earlier = json.loads(out.read_text()) if out.exists() else {"rows": [], "commands": []}
    scored = {r["name"] for r in rows}
    rows = [r for r in earlier["rows"] if r["name"] not in scored] + rows
    rows.sort(key=lambda r: list(RECIPES).index(r["name"]))
    commands = [c for c in earlier.get("commands", [earlier.get("command")]) if c]
    commands += [command] if command not in commands else []  # a rerun replaces its rows; its command is listed once
    out.write_text(json.dumps({"date": date, "commands": commands, "rows": rows}, indent=2))
    for table in args.also:  # a row of today's table wins over an earlier one of the same name
        rows += [r for r in json.loads(Path(table).read_text())["rows"] if r["name"] not in {x["name"] for x in rows}]
    rows.sort(key=lambda r: list(RECIPES).index(r["name"]))
    for r in rows:
        path = Path(args.runs) / r["name"] / "history.csv"
        if RECIPES[r["name"]] not in histories:
            if path.exists():
                histories[RECIPES[r["name"]]] = read_history(path)
                if before := epochs_before(path.parent):
                    histories[RECIPES[r["name"]]]["first_epoch"] = before
            elif r.get("history"):
                histories[RECIPES[r["name"]]] = r["history"]
            else:
                print(f"{r['name']}: no history.csv and none stored in the row: left out of the figure")
    histories = {RECIPES[r["name"]]: histories[RECIPES[r["name"]]] for r in rows if RECIPES[r["name"]] in histories}
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    plot_collapse(histories, args.figure)
    print(f"wrote {out} and {args.figure}")
    print("| recipe | NLL | PPL | -ELBO | KL | MI | active units | epochs | train s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        epochs = f"{r['epochs_trained']}{' (stopped early)' if r['stopped_early'] else ''}"
        print(
            f"| {r['recipe']} | {r['nll']:.2f} ± {r['nll_stderr']:.2f} | {r['ppl']:.2f} | {-r['elbo']:.2f} | "
            f"{r['kl']:.2f} | {r['mi']:.2f} | {r['active_units']} | {epochs} | {r['train_seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
