"""Measure decoding strategies on the shipped sentence VAE, to choose ``tfvae sample``'s default (issue 40).

For each strategy (``tfvae.decoding``), draws ``--n`` sentences from the prior of
``saved_models/ptb_sentence_vae/5`` (the Python model rebuilt from the export,
``tfvae.served.rebuild``) with seed 0 and reports:

- ``at_limit``: the fraction of sentences with no ``<eos>`` within the model's ``max_length`` (100) words;
- ``max_repeat_run``: the longest run of one word repeated back to back, over all sentences;
- ``distinct_1``, ``distinct_2``: distinct words and bigrams over all words and bigrams of the samples
  (Li et al. 2016);
- ``unk``: the fraction of generated words that are ``<unk>``;
- ``mean_words``: words per sentence (``<eos>`` not counted); ``seconds``: the decoding's wall time.

Run: ``python scripts/text_sampling.py`` (about 3 minutes on 2 CPU cores); writes
``scripts/results/text-sampling-2026-12-05.json``.
"""

import argparse
import itertools
import json
import time
from pathlib import Path

from tfvae.backend import tf
from tfvae.decoding import DEFAULT, Decoding
from tfvae.served import load_vocabulary, rebuild
from tfvae.text import EOS, PAD, UNK

REPO = Path(__file__).resolve().parents[1]
GUARDS = {"no_unk": True, "no_repeat_ngram": 3}
STRATEGIES = {
    "greedy": Decoding("greedy"),
    "greedy, guards": Decoding("greedy", **GUARDS),
    "temperature 1": Decoding("temperature", temperature=1.0),
    "temperature 0.8": Decoding("temperature", temperature=0.8),
    "top_k 40": Decoding("top_k", top_k=40),
    "top_p 0.9": Decoding("top_p", top_p=0.9),
    "top_p 0.9, no <unk>": Decoding("top_p", top_p=0.9, no_unk=True),
    "top_p 0.9, guards": Decoding("top_p", top_p=0.9, **GUARDS),
    "beam 4": Decoding("beam", beam_width=4),
    "beam 4, guards": Decoding("beam", beam_width=4, **GUARDS),
}


def measures(ids, max_length):
    """The measures of the module docstring for ids ``[N, max_length]``."""
    sentences = [[int(w) for w in row if w != PAD] for row in ids]
    words = [[w for w in s if w != EOS] for s in sentences]
    unigrams = [w for s in words for w in s]
    bigrams = [pair for s in words for pair in zip(s, s[1:])]
    runs = [len(list(group)) for s in words for _, group in itertools.groupby(s)]
    return {
        "at_limit": sum(EOS not in s and len(s) == max_length for s in sentences) / len(sentences),
        "max_repeat_run": max(runs, default=0),
        "distinct_1": len(set(unigrams)) / max(len(unigrams), 1),
        "distinct_2": len(set(bigrams)) / max(len(bigrams), 1),
        "unk": unigrams.count(UNK) / max(len(unigrams), 1),
        "mean_words": len(unigrams) / len(sentences),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", default=str(REPO / "saved_models/ptb_sentence_vae/5"))
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "scripts/results/text-sampling-2026-12-05.json"))
    args = parser.parse_args()
    model, vocabulary = rebuild(args.export), load_vocabulary(args.export)
    rows = {}
    for name, decoding in STRATEGIES.items():
        sample = tf.function(lambda decoding=decoding: model.sample(args.n, seed=args.seed, decoding=decoding))
        start = time.perf_counter()
        ids = sample().numpy()
        rows[name] = {
            "decoding": decoding._asdict(),
            **measures(ids, model.max_length),
            "seconds": round(time.perf_counter() - start, 1),
            "examples": [s.decode() for s in vocabulary.strings(ids[:3]).numpy()],
        }
        print(name, {k: v for k, v in rows[name].items() if k not in ("decoding", "examples")}, flush=True)
    default = next(name for name, decoding in STRATEGIES.items() if decoding == DEFAULT)
    results = {
        "export": str(Path(args.export).relative_to(REPO)) if Path(args.export).is_relative_to(REPO) else args.export,
        "num_sentences": args.n,
        "seed": args.seed,
        "max_length": model.max_length,
        "default": default,
        "strategies": rows,
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
