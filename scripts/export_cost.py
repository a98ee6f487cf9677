"""What a TFLite export costs, converted from the export's own SavedModel against tracing the model a second time.

    python scripts/export_cost.py --repeats 3

``tfvae export --tflite`` writes the SavedModel, then converts the TFLite files from it (``export(tflite=True)``,
which passes its SavedModel to ``export_tflite``). The baseline is what it did before 2026-12-07 and what
``export_tflite(model, directory)`` without a SavedModel still does: the SavedModel export, then the model's
serving functions traced and saved once more for the converter. Both write the same files; the float32 file only
(``tflite_float16=False``), whose conversion both share.

Models: the test harness's small image variants with TFLite files (an MLP, a conditional MLP and a three-layer
ladder; ``tests/test_harness.py``) and the README's network (784-512-256-16). Each (model, way) is timed
``--repeats`` times in one process, the two ways alternating (the new way first in each round), after one untimed
export of each model (the first export in a process also pays for TensorFlow's own start). Writes
``scripts/results/export-cost-<date>.json`` with the host's processor and float32 matmul peak.
"""

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def models():
    """``{name: model}``: three harness variants and the README's network."""
    sys.path.insert(0, str(REPO / "tests"))
    import test_harness

    from tfvae import VAE

    built = {name: test_harness._build(name) for name in ("mlp_bernoulli", "conditional", "three_layer_ladder")}
    built["readme_mlp"] = VAE(data_shape=(28, 28, 1), latent_dim=16, hidden_units=(512, 256), seed=0)
    return built


def export_once(model, way):
    """Seconds for one SavedModel + float32 TFLite export of ``model``, the ``way`` ("one_trace" or "retrace")."""
    from tfvae.export import export, export_tflite

    with tempfile.TemporaryDirectory(prefix="export_cost") as directory:
        start = time.perf_counter()
        if way == "one_trace":
            path = export(model, directory, tflite=True, tflite_float16=False)
        else:
            path = export(model, directory)
            export_tflite(model, path, float16=False)
        seconds = time.perf_counter() - start
        assert (path / "vae.tflite").stat().st_size > 0
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from tfvae import quiet

    quiet.import_tensorflow()
    sys.path.insert(0, str(REPO / "scripts"))
    from benchmark import matmul_peak_gflops

    from tfvae.backend import tf

    results = {}
    for name, model in models().items():
        export_once(model, "retrace")  # untimed: the first trace of this model's Keras functions
        times = {"one_trace": [], "retrace": []}
        for _ in range(args.repeats):
            for way in times:
                times[way].append(round(export_once(model, way), 2))
        results[name] = {
            **{f"{way}_seconds": values for way, values in times.items()},
            "median_one_trace": statistics.median(times["one_trace"]),
            "median_retrace": statistics.median(times["retrace"]),
        }
        print(name, json.dumps(results[name]), flush=True)
    out = REPO / "scripts" / "results" / f"export-cost-{datetime.date.today()}.json"
    out.write_text(
        json.dumps(
            {
                "command": "python scripts/export_cost.py " + " ".join(sys.argv[1:]),
                "processor": platform.processor() or platform.machine(),
                "tensorflow": tf.__version__,
                "matmul_peak_gflops": round(matmul_peak_gflops(), 1),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
