"""Sentence VAEs against the LSTM language model on Penn Treebank: same decoder, same budget.

    python scripts/compare_text_vaes.py --data-dir ../shared/data/ptb --epochs 1 --num-samples 10

Trains, with ``tfvae.training.train`` and one shared budget (epochs, batch,
Adam, seed), the LSTM language model (``latent_dim=0``) and four sentence
VAEs, each adding one remedy against posterior collapse to the one before:
plain; + linear KL annealing; + word dropout; + free bits. All use the same
decoder (embedding 256, LSTM 256, vocabulary from the training split) and
are scored on the test split by ``tfvae.evaluation.evaluate_sentences``
(importance-weighted NLL with ``--num-samples`` K, perplexity with ``<eos>``
counted, KL, mutual information, active units). Runs resume from their
directories under ``--runs``, so an interrupted comparison continues, and a
larger ``--epochs`` continues finished runs. Writes
``scripts/results/text-vaes-<date>.json`` and prints a markdown table, prior
samples and a homotopy of the last VAE.
"""

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfvae import text  # noqa: E402
from tfvae.evaluation import evaluate_sentences  # noqa: E402
from tfvae.runs import TrainSettings  # noqa: E402
from tfvae.training import train  # noqa: E402

DECODER = {"rnn": "lstm", "latent_injection": "both"}  # and embedding_dim = units = --units


def variants(warmup_steps, word_dropout, free_bits):
    """The rows of the table: name -> SentenceVAE arguments (plus ``kl_warmup_steps``)."""
    annealing = {"kl_warmup_steps": warmup_steps}
    return {
        "LSTM language model": {"latent_dim": 0},
        "VAE": {"latent_dim": 32},
        "+ KL annealing": {"latent_dim": 32, **annealing},
        f"+ word dropout {word_dropout:g}": {"latent_dim": 32, **annealing, "word_dropout": word_dropout},
        f"+ free bits {free_bits:g}/dim": {
            "latent_dim": 32,
            **annealing,
            "word_dropout": word_dropout,
            "objective": "free_bits",
            "free_bits": free_bits,
        },
    }


def main():
    """Trains and scores every variant; writes the JSON and prints the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/ptb")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--num-samples", type=int, default=10, help="K of the importance-weighted NLL")
    parser.add_argument("--warmup-steps", type=int, default=1000, help="linear KL warm-up (steps)")
    parser.add_argument("--word-dropout", type=float, default=0.25)
    parser.add_argument("--free-bits", type=float, default=0.125, help="nats per latent dimension")
    parser.add_argument("--only", default=None, help="train and score only the variants whose name holds this")
    parser.add_argument("--runs", default="runs/ptb")
    parser.add_argument("--verbose", type=int, default=2, help="Keras's: 1 shows a progress bar")
    parser.add_argument("--units", type=int, default=256, help="LSTM state and word-embedding size")
    args = parser.parse_args()

    data = text.load_text_dir(args.data_dir)
    decoder = {**DECODER, "embedding_dim": args.units, "units": args.units}
    rows = []
    for index, (name, config) in enumerate(variants(args.warmup_steps, args.word_dropout, args.free_bits).items()):
        if args.only and args.only not in name:
            continue
        config = dict(config)
        settings = TrainSettings(
            dataset="text",
            data_dir=args.data_dir,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seed=0,
            kl_warmup_steps=config.pop("kl_warmup_steps", 0),
        )
        run_dir = Path(args.runs) / f"{index}"
        model, metrics = train(run_dir, {**decoder, **config}, settings, dataset=data, verbose=args.verbose)
        vocabulary = text.Vocabulary.load(run_dir / text.VOCABULARY_FILE)
        # The language model's ELBO is log p(x) exactly: one sample is enough.
        k = 1 if model.latent_dim == 0 else args.num_samples
        scores = evaluate_sentences(model, text.encode_sentences(vocabulary, data.test), num_samples=k, verbose=0)
        row = {
            "variant": name,
            "run_dir": str(run_dir),
            "config": {**config, **decoder},
            "kl_warmup_steps": settings.kl_warmup_steps,
            "train_seconds": metrics["train_seconds"],
            **{
                key: scores[key]
                for key in (
                    "nll",
                    "nll_stderr",
                    "ppl",
                    "elbo",
                    "ppl_elbo",
                    "reconstruction",
                    "kl",
                    "mi",
                    "active_units",
                    "num_samples",
                    "tokens",
                    "seconds",
                )
            },
        }
        if model.latent_dim:
            row["prior_samples"] = [s.decode() for s in vocabulary.strings(model.sample(5, seed=0)).numpy()]
            pair, _ = vocabulary.ids([data.test[0], data.test[1]])
            row["homotopy"] = [s.decode() for s in vocabulary.strings(model.homotopy(pair[:1], pair[1:])).numpy()]
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {
        "date": datetime.date.today().isoformat(),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "num_samples": args.num_samples,
        "command": "python scripts/compare_text_vaes.py " + " ".join(sys.argv[1:]),
        "rows": rows,
    }
    suffix = "" if not args.only else "-" + "".join(c if c.isalnum() else "_" for c in args.only)
    out = Path(__file__).parent / "results" / f"text-vaes-{result['date']}{suffix}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    print(f"| model | test NLL (K={args.num_samples}) | PPL | -ELBO | KL | MI | active units | train s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['nll']:.2f} ± {r['nll_stderr']:.2f} | {r['ppl']:.2f} | {-r['elbo']:.2f} | "
            f"{r['kl']:.2f} | {r['mi']:.2f} | {r['active_units']} | {r['train_seconds']:.0f} |"
        )
    for r in rows:
        for key in ("prior_samples", "homotopy"):
            if key in r:
                print(f"\n{r['variant']}, {key.replace('_', ' ')}:\n" + "\n".join("  " + s for s in r[key]))


if __name__ == "__main__":
    main()
