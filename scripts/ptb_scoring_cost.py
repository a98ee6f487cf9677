"""What K = 500 on the whole PTB test split costs, and what bfloat16 and larger batches change.

    python scripts/ptb_scoring_cost.py --run runs/ptb/bn_vae_dropout -k 100 --every 19

Scores the same sentences (every ``--every``-th test sentence, so every
length is represented) with ``tfvae.evaluation.evaluate_sentences`` at one K
and one seed, once per variant: float32 (how the PTB table is scored) and
Keras's ``mixed_bfloat16`` policy (bfloat16 matmuls, the distributions and
the bound in float32), each at two batch sizes. For each variant it reports
the NLL, its difference from float32 at the default batch (the error
bfloat16 adds, in nats per sentence), the seconds, and the projected seconds
of K = 500 over all 3,761 test sentences (linear in sentences x samples).
Writes ``scripts/results/ptb-scoring-cost-<date>.json``.
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
from tfvae.training import dtype_policy, load_text  # noqa: E402

TEST_SENTENCES, TARGET_K = 3761, 500
VARIANTS = (  # (name, Keras dtype policy, sentences per step)
    ("float32, batch 25", None, 25),
    ("float32, batch 100", None, 100),
    ("bfloat16, batch 25", "mixed_bfloat16", 25),
    ("bfloat16, batch 100", "mixed_bfloat16", 100),
)


def main():
    """Scores the chosen sentences once per variant and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a text run directory (runs/ptb/<name>)")
    parser.add_argument("-k", "--num-samples", type=int, default=100)
    parser.add_argument("--every", type=int, default=19, help="score every N-th test sentence")
    args = parser.parse_args()
    vocabulary = load_vocabulary(args.run)
    sentences = load_text(load_run_settings(args.run)).test[:: args.every]
    ids = text.encode_sentences(vocabulary, sentences)
    rows = []
    for name, policy, batch_size in VARIANTS:
        with dtype_policy(policy):
            model = load_run(args.run)  # built under the policy: its layers compute in that dtype
            # No warm-up call: evaluate_sentences traces a new function each call, so the timing includes tracing.
            start = time.perf_counter()
            scores = evaluate_sentences(
                model, ids, num_samples=args.num_samples, batch_size=batch_size, seed=0, verbose=0
            )
            seconds = time.perf_counter() - start
        per_sample = seconds / (len(sentences) * args.num_samples)
        rows.append(
            {
                "variant": name,
                "policy": policy or "float32",
                "batch_size": batch_size,
                "nll": scores["nll"],
                "nll_stderr": scores["nll_stderr"],
                "seconds": seconds,
                "projected_k500_full_split_s": per_sample * TEST_SENTENCES * TARGET_K,
            }
        )
        rows[-1]["nll_minus_float32"] = rows[-1]["nll"] - rows[0]["nll"]
        print(json.dumps(rows[-1]), flush=True)
    date = datetime.date.today().isoformat()
    out = ROOT / "scripts" / "results" / f"ptb-scoring-cost-{date}.json"
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
