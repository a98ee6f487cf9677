"""Training throughput of the sentence VAE on Penn Treebank: tokens per second against this machine's limit.

    python scripts/text_throughput.py --data-dir ../shared/data/ptb
    python scripts/text_throughput.py --baseline-ref 0ad7a8e --steps 60     # today's code vs. a git ref

Times ``model.fit`` steps of the README's text network (LSTM encoder and
decoder, embeddings and units 256, z 32, batch 128, bucketed batches of
shuffled PTB training sentences) and reports, per variant:

* real tokens per second (words and ``<eos>``, padding not counted) and the
  padding fraction of the batches;
* training FLOPs per real token (real tokens only: the work on padding is
  extra and not counted), from the network's shapes
  (forward: encoder LSTM 8U(E+U), decoder LSTM 8U(E+d+U), output layer 2UV
  per position; training = 3x forward), and the fraction of the machine's
  measured float32 matmul peak that this reaches.

Every variant trains in its own process on batches drawn once and fed from
memory (the same batches for variants of the same batch size and bucket
width); ``--baseline-ref REF`` also runs the code of a git commit (checked
out in a temporary worktree) on them, so the speed-up
against it is measured in one run. Writes
``scripts/results/text-throughput-<date>.json`` and a markdown table.
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

ROOT = Path(__file__).resolve().parent.parent
NETWORK = {"latent_dim": 32, "embedding_dim": 256, "units": 256}
# name -> (model keyword changes, batch size, bucket width, jit_compile); a variant named "... 1 thread"
# runs TensorFlow on one thread (scripts/train_ptb.py runs two such processes side by side); one
# named "... bfloat16" trains under Keras's mixed_bfloat16 policy (--mixed-bfloat16).
VARIANTS = {
    "default 1 thread": ({}, 128, 10, False),
    "default": ({}, 128, 10, False),
    "bucket width 5": ({}, 128, 5, False),
    "batch 256": ({}, 256, 10, False),
    "xla": ({}, 128, 10, True),
    "batch 256 xla": ({}, 256, 10, True),
    "bfloat16": ({}, 128, 10, False),
    "bfloat16 1 thread": ({}, 128, 10, False),
    "batch 256 bfloat16": ({}, 256, 10, False),
    "tied bfloat16": ({"tie_embeddings": True}, 128, 10, False),  # --tie-embeddings: one matrix, two uses
}
DEFAULT_VARIANTS = ["default", "default 1 thread", "batch 256"]  # XLA recompiles for every sentence length


def flops_per_token(vocab_size, embedding_dim, units, latent_dim):
    """Training FLOPs per real token (3x the forward multiply-adds x 2), from the network's shapes."""
    encoder = 8 * units * (embedding_dim + units)
    decoder = 8 * units * (embedding_dim + latent_dim + units)
    output = 2 * units * vocab_size
    return 3 * (encoder + decoder + output), 3 * output


def child(batches_path, variant, out_path, steps, warmup):
    """Times one variant on the saved batches (this process imports tfvae from sys.path[0])."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from tfvae.backend import keras, tf
    from tfvae.sentence import SentenceVAE

    if variant.endswith("1 thread"):
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    changes, batch, _, jit = VARIANTS[variant]
    if "bfloat16" in variant:  # --mixed-bfloat16: bfloat16 matmuls, float32 variables and loss
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    saved = np.load(batches_path, allow_pickle=True)
    batches = list(saved["batches"])
    vocab_size = int(saved["vocab_size"])
    keras.utils.set_random_seed(0)
    model = SentenceVAE(vocab_size, **NETWORK, **changes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(batches), output_signature=tf.TensorSpec([None, None], tf.int32)
    )
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, step, logs=None):
            times.append(time.perf_counter())

    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=len(batches), verbose=0, callbacks=[Timer()])
    timed = batches[warmup:]
    tokens = sum(int((b != 0).sum()) for b in timed)
    padded = sum(int(b.size) for b in timed)
    seconds = times[-1] - times[warmup - 1]
    Path(out_path).write_text(
        json.dumps(
            {
                "variant": variant,
                "batch_size": batch,
                "steps": len(timed),
                "seconds": seconds,
                "tokens_per_second": tokens / seconds,
                "padding_fraction": 1 - tokens / padded,
                "seconds_per_step": seconds / len(timed),
                "step_seconds_median": statistics.median(b - a for a, b in zip(times[warmup - 1 :], times[warmup:])),
                "first_steps_seconds": times[warmup - 1] - start,
            }
        )
    )


def make_batches(data_dir, batch, width, count, seed=0):
    """``count`` bucketed training batches (int32 arrays) and the vocabulary size."""
    import numpy as np

    from tfvae import text

    data = text.load_text_dir(data_dir)
    vocabulary = text.Vocabulary.build(data.train)
    ids = text.encode_sentences(vocabulary, data.train)
    original = text.bucket_boundaries
    text.bucket_boundaries = lambda max_tokens, width_=width: original(max_tokens, width_)
    try:
        pipeline = text.make_text_pipeline(ids, batch, shuffle=True, seed=seed).repeat()
    finally:
        text.bucket_boundaries = original
    batches = [b.numpy().astype(np.int32) for b in pipeline.take(count)]
    return batches, vocabulary.size


def main():
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5], int(sys.argv[5]), int(sys.argv[6]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "ptb"))
    parser.add_argument("--steps", type=int, default=60, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=5, help="untimed first steps (tracing)")
    parser.add_argument("--baseline-ref", help="also time this git commit's code on the default variant")
    parser.add_argument("--variants", nargs="*", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    parser.add_argument("--label", default="", help="suffix of the result file (text-throughput-<date>-<label>)")
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be >= 1 (the first step traces the model)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    sys.path.insert(0, str(ROOT / "scripts"))
    from benchmark import matmul_peak_gflops

    peak = matmul_peak_gflops()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(variant, ROOT) for variant in args.variants]
        if args.baseline_ref:
            worktree = Path(tmp) / "baseline"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(worktree), args.baseline_ref],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            runs.insert(0, ("default", worktree))
        try:
            for variant, code in runs:
                _, batch, width, _ = VARIANTS[variant]
                batches_path = Path(tmp) / f"batches-{batch}-{width}.npz"
                if not batches_path.exists():
                    batches, vocab_size = make_batches(args.data_dir, batch, width, args.warmup + args.steps)
                    stored = np.empty(len(batches), dtype=object)  # ragged: one [B, T] array each
                    stored[:] = batches
                    np.savez(batches_path, batches=stored, vocab_size=vocab_size)
                vocab_size = int(np.load(batches_path, allow_pickle=True)["vocab_size"])
                out = Path(tmp) / "row.json"
                # cwd = the code's root, so `-c` imports that tree's tfvae (sys.path[0] is the cwd).
                argv = [
                    "x",
                    "--child",
                    str(batches_path),
                    variant,
                    str(out),
                    str(args.steps + args.warmup),
                    str(args.warmup),
                ]
                program = (
                    f"import runpy, sys; sys.argv = {argv!r}; "
                    f"runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')"
                )
                subprocess.run([sys.executable, "-c", program], cwd=code, check=True)
                row = json.loads(out.read_text())
                total, output = flops_per_token(
                    vocab_size, NETWORK["embedding_dim"], NETWORK["units"], NETWORK["latent_dim"]
                )
                row.update(
                    code="baseline " + args.baseline_ref if code != ROOT else "this tree",
                    mflop_per_token=total / 1e6,
                    output_layer_share=output / total,
                    fraction_of_peak=row["tokens_per_second"] * total / (peak * 1e9),
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            if args.baseline_ref:
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "matmul_peak_gflops": peak,
        "network": NETWORK,
        "command": "python scripts/text_throughput.py " + " ".join(sys.argv[1:]),
        "rows": rows,
    }
    suffix = f"-{args.label}" if args.label else ""
    path = ROOT / "scripts" / "results" / f"text-throughput-{result['date']}{suffix}.json"
    path.write_text(json.dumps(result, indent=2))
    base = rows[0]["tokens_per_second"]
    print(f"matmul peak {peak:.0f} GFLOP/s")
    print("| code | variant | batch | tokens/s | x first row | padding | MFLOP/token | % of peak |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['code']} | {r['variant']} | {r['batch_size']} | {r['tokens_per_second']:.0f} | "
            f"{r['tokens_per_second'] / base:.2f} | {100 * r['padding_fraction']:.0f} % | "
            f"{r['mflop_per_token']:.1f} | {100 * r['fraction_of_peak']:.0f} % |"
        )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
