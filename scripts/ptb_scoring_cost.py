"""What K = 500 on the whole PTB test split costs, and what the scoring path and bfloat16 change.

    python scripts/ptb_scoring_cost.py --run runs/ptb/bn_vae_dropout -k 100 --every 19

Scores the same sentences (every ``--every``-th test sentence, so every
length is represented) with ``tfvae.evaluation.evaluate_sentences`` at one K
and one seed, once per variant, at 25 sentences per step (the default; 100
was slower in both dtypes on 2026-12-01, more padding):

* the log-likelihood path: ``fused``, TFP's ``Categorical.log_prob`` (TF's
  fused sparse cross-entropy, which also writes the gradient; what scoring
  called up to 2026-12-01, the baseline) or ``gather``,
  ``SentenceVAE.log_px_given_z`` (gather minus logsumexp, forward only;
  what scoring calls now);
* the dtype: float32 or Keras's ``mixed_bfloat16`` policy (bfloat16 matmuls,
  the distributions and the bound in float32).

For each variant it reports the NLL, its difference from the first row (the
error a variant adds, in nats per sentence: the same samples), the seconds,
and the projected seconds of K = 500 over all 3,761 test sentences (linear
in sentences x samples; too high, as it also scales the run's tracing and
its K-independent work: the gather path projected 50 minutes and measured 28
with ``tfvae evaluate RUN -k 500``). Writes
``scripts/results/ptb-scoring-cost-<date>[-<label>].json``.
"""

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfvae import text  # noqa: E402
from tfvae.evaluation import evaluate_sentences  # noqa: E402
from tfvae.runs import load_run, load_run_settings, load_vocabulary  # noqa: E402
from tfvae.text import load_text  # noqa: E402
from tfvae.training import dtype_policy  # noqa: E402

TEST_SENTENCES, TARGET_K, BATCH_SIZE = 3761, 500, 25
VARIANTS = (  # (name, Keras dtype policy, log-likelihood path)
    ("float32, fused (baseline)", None, "fused"),
    ("float32, gather", None, "gather"),
    ("bfloat16, fused", "mixed_bfloat16", "fused"),
    ("bfloat16, gather", "mixed_bfloat16", "gather"),
)


def fused_scoring(model):
    """Makes ``model`` score through ``likelihood_of(...).log_prob``, TFP's fused cross-entropy (the baseline)."""
    model.log_px_given_z = lambda x, z, condition=None: model.likelihood_of(x, z, condition).log_prob(x)
    return model


def main():
    """Scores the chosen sentences once per variant and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a text run directory (runs/ptb/<name>)")
    parser.add_argument("-k", "--num-samples", type=int, default=100)
    parser.add_argument("--every", type=int, default=19, help="score every N-th test sentence")
    parser.add_argument("--label", default="", help="added to the results file's name")
    args = parser.parse_args()
    vocabulary = load_vocabulary(args.run)
    sentences = load_text(load_run_settings(args.run)).test[:: args.every]
    ids = text.encode_sentences(vocabulary, sentences)
    rows = []
    for name, policy, path in VARIANTS:
        with dtype_policy(policy):
            model = load_run(args.run)  # built under the policy: its layers compute in that dtype
            if path == "fused":
                fused_scoring(model)
            # No warm-up call: evaluate_sentences traces a new function each call, so the timing includes tracing.
            start = time.perf_counter()
            scores = evaluate_sentences(
                model, ids, num_samples=args.num_samples, batch_size=BATCH_SIZE, seed=0, verbose=0
            )
            seconds = time.perf_counter() - start
        per_sample = seconds / (len(sentences) * args.num_samples)
        rows.append(
            {
                "variant": name,
                "policy": policy or "float32",
                "path": path,
                "batch_size": BATCH_SIZE,
                "nll": scores["nll"],
                "nll_stderr": scores["nll_stderr"],
                "seconds": seconds,
                "projected_k500_full_split_s": per_sample * TEST_SENTENCES * TARGET_K,
            }
        )
        rows[-1]["nll_minus_first_row"] = rows[-1]["nll"] - rows[0]["nll"]
        rows[-1]["time_over_first_row"] = seconds / rows[0]["seconds"]
        print(json.dumps(rows[-1]), flush=True)
    date = datetime.date.today().isoformat()
    out = ROOT / "scripts" / "results" / f"ptb-scoring-cost-{date}{'-' + args.label if args.label else ''}.json"
    result = {
        "date": date,
        "command": "python scripts/ptb_scoring_cost.py " + " ".join(sys.argv[1:]),
        "run": str(args.run),
        "num_samples": args.num_samples,
        "num_sentences": len(sentences),
        "tokens": int(ids.row_lengths().numpy().sum()),
        "rows": rows,
    }
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
