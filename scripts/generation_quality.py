"""The quality of generated sentences per decoding strategy: the shipped sentence VAE against the language model.

For each model (``--vae``, the shipped ``saved_models/ptb_sentence_vae/5``; ``--lm``, the project's LSTM language
model, a run of ``configs/ptb/lm.json``) and each strategy of ``STRATEGIES``, ``tfvae.generation.generation_quality``
measures:

- reconstruction BLEU: corpus BLEU-4 (sacreBLEU) of the first ``--test`` test sentences decoded at their posterior
  mean (the VAE only: a language model has no z);
- forward perplexity: ``--n`` prior samples scored by the language model ``--lm`` (for the LM's own samples this
  is the model scoring itself, which favours it);
- reverse perplexity: the first ``--test`` test sentences scored by a small LSTM LM (``tfvae.generation.ReverseLM``:
  embedding 64, 128 units, 2.0 M weights, 5 epochs) trained on the ``--n`` samples;
- distinct-1/2 over the samples, and self-BLEU of the first 100 samples against all the others.

A reference row measures ``--n`` real training sentences the same way (forward and reverse perplexity, distinct-n,
self-BLEU), so the numbers have a scale.

Run, after training the language model (about 10 minutes for its 2 epochs on 2 CPU cores):

    tfvae train --config configs/ptb/lm.json --out runs/ptb_lm --epochs 2
    python scripts/generation_quality.py

(11 minutes on 2 shared CPU cores); writes ``scripts/results/generation-quality-2026-12-06.json``.
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

from tfvae import generation
from tfvae.artifacts import open_artifact
from tfvae.decoding import DEFAULT, Decoding
from tfvae.text import load_text_dir

REPO = Path(__file__).resolve().parents[1]
GUARDS = {"no_unk": True, "no_repeat_ngram": 3}
STRATEGIES = {
    "greedy, guards": Decoding("greedy", **GUARDS),
    "temperature 1": Decoding("temperature", temperature=1.0),
    "top_k 40": Decoding("top_k", top_k=40),
    "top_p 0.9, guards": DEFAULT,
    "beam 4, guards": Decoding("beam", beam_width=4, **GUARDS),
}


def _relative(path):
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def reference(lm, lm_vocabulary, train, test, n):
    """The measures of ``n`` real training sentences: what the samples are compared with."""
    real = generation.as_read(lm_vocabulary, train[:n])
    return {
        "num_samples": n,
        "forward_ppl": generation.perplexity(lm, lm_vocabulary, real)[0],
        "reverse_ppl": generation.reverse_perplexity(lm_vocabulary, real, generation.as_read(lm_vocabulary, test)),
        "distinct_1": generation.distinct_n(real, 1),
        "distinct_2": generation.distinct_n(real, 2),
        "self_bleu": generation.self_bleu(real),
        "mean_words": sum(len(s.split()) for s in real) / len(real),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", default=str(REPO / "saved_models/ptb_sentence_vae/5"))
    parser.add_argument("--lm", default=str(REPO / "runs/ptb_lm"), help="the language model: a run or an export")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data/ptb"))
    parser.add_argument("--n", type=int, default=500, help="prior samples per model and strategy")
    parser.add_argument("--test", type=int, default=1000, help="test sentences reconstructed and scored")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "scripts/results/generation-quality-2026-12-06.json"))
    args = parser.parse_args()
    data = load_text_dir(args.data_dir)
    test = data.test[: args.test]
    lm_artifact = open_artifact(args.lm)
    lm, lm_vocabulary = lm_artifact.model(), lm_artifact.vocabulary()
    reverse_lm = generation.ReverseLM()
    results = {
        "vae": _relative(args.vae),
        "lm": _relative(args.lm),
        "num_samples": args.n,
        "test_sentences": len(test),
        "seed": args.seed,
        "reverse_lm": {**dataclasses.asdict(reverse_lm), "parameters": reverse_lm.parameters(lm.vocab_size)},
        "self_bleu_hypotheses": generation.SELF_BLEU_HYPOTHESES,
    }
    start = time.perf_counter()
    results["reference"] = reference(lm, lm_vocabulary, data.train, test, args.n)
    results["reference"]["seconds"] = round(time.perf_counter() - start, 1)
    print("real sentences", results["reference"], flush=True)
    models = {"vae": open_artifact(args.vae), "lm": lm_artifact}
    rows = results["rows"] = []
    for model_name, artifact in models.items():
        model, vocabulary = artifact.model(), artifact.vocabulary()
        for name in args.strategies:
            start = time.perf_counter()
            measured = generation.generation_quality(
                model, vocabulary, test, STRATEGIES[name], args.n, args.seed, lm, lm_vocabulary
            )
            row = {"model": model_name, "strategy": name, **measured}
            row["seconds"]["total"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            shown = ("reconstruction_bleu", "forward_ppl", "reverse_ppl", "distinct_1", "distinct_2", "self_bleu")
            print(model_name, name, {k: row[k] for k in shown}, row["seconds"], flush=True)
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n")  # each row as it comes
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
