"""The models committed in saved_models/: they load with TensorFlow alone and score MNIST as recorded."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, mnist_dir

ALL_VERSIONS = sorted(p for p in (REPO / "saved_models").glob("*/*") if p.name.isdigit())
TEXT_VERSIONS = [p for p in ALL_VERSIONS if json.loads((p / "tfvae.json").read_text()).get("class") == "SentenceVAE"]
VERSIONS = [p for p in ALL_VERSIONS if p not in TEXT_VERSIONS]  # the image models


# Every count-taking signature of each export fed every kind of int32 count, in a process of its own: TensorFlow
# and LiteRT only. Takes a JSON list of [export path, test images (.npy) or null]; prints one JSON line: for each
# export, what each call gave, its peak memory and (given images) its scores. One process for several exports:
# one TensorFlow start (5-9 s) instead of one each.
BAD_COUNTS = (-5, 0, 10**9, -(2**31), 2**31 - 1, 100_001)
COUNTS = r"""
import gc, json, os, sys, numpy as np, tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
jobs, counts = json.loads(sys.argv[1]), json.loads(sys.argv[2])

def counted(path, images):
    results = {}
    for name in ("vae.tflite", "vae_fp16.tflite"):
        if not os.path.exists(f"{path}/{name}"):
            continue
        interpreter = Interpreter(model_path=f"{path}/{name}")
        if "sample" in interpreter.get_signature_list():
            runner = interpreter.get_signature_runner("sample")
            inputs = runner.get_input_details()
            one = {}
            if "condition" in inputs:  # one class for every image
                one["condition"] = np.eye(inputs["condition"]["shape"][-1], dtype=np.float32)[:1]
            for n in counts + [3]:
                out = runner(num_samples=np.array(n, np.int32), **one)
                results[f"{name} sample {n}"] = [list(out["x"].shape), bool(out["valid"])]
    signatures = tf.saved_model.load(path).signatures  # loaded once: the counts, then the scores
    for name, signature in signatures.items():
        inputs = signature.structured_input_signature[1]
        if "num_samples" not in inputs:
            continue
        feeds = {"seed": tf.constant(0)} if "seed" in inputs else {}
        if "x" in inputs:
            feeds["x"] = tf.zeros([2, *inputs["x"].shape[1:]])
        if "condition" in inputs:  # two rows: the sample signature broadcasts one row, or one per image
            feeds["condition"] = tf.one_hot([0, 0] if "x" in inputs else [0], inputs["condition"].shape[-1])
        if "sentences" in inputs:
            feeds["sentences"] = tf.constant(["the cat sat", "a dog"])
        if "ids" in inputs:
            feeds["ids"] = tf.constant([[5, 2], [6, 2]])
        if "strategy" in inputs:  # sample_with: greedy, short, so that only the count is in question
            feeds.update(strategy=tf.constant("greedy"), temperature=tf.constant(1.0), top_k=tf.constant(1),
                         top_p=tf.constant(0.9), beam_width=tf.constant(1), no_unk=tf.constant(False),
                         no_repeat_ngram=tf.constant(0), max_length=tf.constant(5))
        for n in counts:
            try:
                signature(num_samples=tf.constant(n, tf.int32), **feeds)
                results[f"{name} {n}"] = "ran"
            except tf.errors.InvalidArgumentError as error:
                about = "num_samples" if "num_samples must be" in error.message else "?"
                results[f"{name} {n}"] = "refused: " + about
    # VmHWM, not getrusage's ru_maxrss: that survives fork and exec, so it reported the pytest worker's own peak.
    # The peak since the previous export's was reset (clear_refs 5), so it is this export's.
    with open("/proc/self/status") as status:
        results["peak_memory_mb"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    if images:  # test images (.npy): their IW bound at K=200 and ELBO, after the counts' peak is read
        images = np.load(images)
        x = signatures["sample"](num_samples=tf.constant(8), seed=tf.constant(0))["x"].numpy()
        assert x.shape == (8, 28, 28, 1) and 0 <= x.min() and x.max() <= 1
        r = signatures["log_likelihood"](x=tf.constant(images), num_samples=tf.constant(200))
        results["scores"] = [float(-r["log_px"].numpy().mean()), float(-r["elbo"].numpy().mean())]
    return results

everything = {}
for path, images in jobs:
    gc.collect()  # the previous export's objects, before its peak is forgotten
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    everything[path] = counted(path, images)
assert "tfvae" not in sys.modules
print(json.dumps(everything))
"""


def run_counts_together(jobs, counts=BAD_COUNTS):
    """Runs COUNTS on each ``(export path, test images .npy or None)`` of ``jobs`` in one fresh process; returns
    (CompletedProcess, ``{str(path): its results}`` or None)."""
    request = json.dumps([[str(path), str(images) if images else None] for path, images in jobs])
    result = subprocess.run(
        [sys.executable, "-c", COUNTS, request, json.dumps(list(counts))], capture_output=True, text=True, timeout=600
    )
    lines = result.stdout.strip().splitlines()
    return result, (json.loads(lines[-1]) if result.returncode == 0 and lines else None)


def run_counts(path, counts=BAD_COUNTS, images=None):
    """Runs COUNTS on one export in a fresh process; returns (CompletedProcess, its results or None)."""
    result, everything = run_counts_together([(path, images)], counts)
    return result, (everything[str(path)] if everything else None)


def check_counts(version, results):
    """``results`` of COUNTS for the shipped ``version``: every count harmless, an image model's scores as
    recorded."""
    assert results.pop("peak_memory_mb") < 4000  # nothing was sized by a refused count
    scores = results.pop("scores", None)
    for key, outcome in results.items():
        if " sample " in key and key.endswith(" 3"):
            assert outcome == [[3, 28, 28, 1], True], key
        elif key.startswith("vae"):
            assert outcome == [[0, 28, 28, 1], False], key
        else:
            assert outcome == "refused: num_samples", key
    description = json.loads((version / "tfvae.json").read_text())
    has_sample = description["model"]["prior"] == "normal" and description.get("class") != "SentenceVAE"
    assert any(key.startswith("vae.tflite sample") for key in results) == has_sample
    assert any(key.startswith("log_likelihood") for key in results)
    if version not in VERSIONS:  # a text model: test_shipped_text_model_scores_ptb_as_recorded scores it
        return
    recorded = json.loads((version / "metrics.json").read_text())
    nll_200, negative_elbo = scores
    # 500 test images and K=200 here vs 10,000 images and K=5000 recorded: a few nats apart at most.
    assert abs(nll_200 - recorded["eval"]["nll"]) < 4.0, (nll_200, recorded["eval"]["nll"])
    assert abs(negative_elbo + recorded["eval"]["elbo"]) < 5.0
    assert nll_200 < negative_elbo


def newest(versions):
    """The newest version of each model among ``versions``."""
    return {max((p for p in versions if p.parent == v.parent), key=lambda p: int(p.name)) for v in versions}


@pytest.mark.parametrize("tier", ["newest", pytest.param("superseded", marks=pytest.mark.long)])
def test_the_shipped_models_in_a_process_of_their_own(tier, tmp_path):
    """With TensorFlow and LiteRT alone (no tfvae): any int32 count is harmless (TFLite's sample draws nothing and
    says so, the SavedModel refuses it, no signal kills Python), and each image model scores MNIST as recorded.

    One process does every export of the tier (the newest version of each model on the fast tier, the versions they
    superseded on the long tier), each export's peak memory measured alone."""
    from tfvae.data import binarize_fixed, load_idx_dataset

    latest = newest(ALL_VERSIONS)
    versions = sorted(latest if tier == "newest" else set(ALL_VERSIONS) - latest)
    images = tmp_path / "x.npy"
    np.save(images, binarize_fixed(load_idx_dataset(mnist_dir()).test_images, seed=0)[:500])
    result, everything = run_counts_together([(v, images if v in VERSIONS else None) for v in versions])
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])  # -11 was LiteRT's segfault
    assert set(everything) == {str(v) for v in versions}
    for version in versions:
        try:
            check_counts(version, everything[str(version)])
        except AssertionError as error:
            raise AssertionError(f"{version.parent.name}/{version.name}: {error}") from error


def test_at_least_one_model_is_shipped():
    assert any(Path(p / "saved_model.pb").exists() for p in VERSIONS)


def _walk(value, parent=None):
    """Every (dict holding it, key, value) of a JSON document, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield value, key, item
            yield from _walk(item, value)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, parent)


def results_rows(readme):
    """{version path: the text of its row} in the README's results tables (``## Results on ...``)."""
    rows, in_results = {}, False
    for line in readme.splitlines():
        if line.startswith("## "):
            in_results = line.startswith("## Results on")
        elif in_results and line.startswith("|"):
            for name in re.findall(r"saved_models/([\w.-]+/\d+)", line):
                rows[name] = line
    return rows


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=[f"{p.parent.name}/{p.name}" for p in ALL_VERSIONS])
def test_shipped_metrics_are_true_and_traceable(version):
    """A shipped ``metrics.json``: no path of the training machine, training times that can be true, and every
    README number of the model among its recorded evaluations, each with its K, split, examples, date, command."""
    metrics = json.loads((version / "metrics.json").read_text())
    for holder, key, value in _walk(metrics):
        assert not (isinstance(value, str) and re.match(r"/(work|home|root|tmp|check)/", value)), (key, value)
        if key == "train_seconds":
            # At least a second an epoch on any machine so far: 0.24 s for 42 epochs was a resumed run's last call.
            epochs = next((holder[k] for k in ("epochs_trained", "epochs_completed", "epochs") if k in holder), 1)
            assert value >= epochs, (key, value, epochs)
    evaluations = metrics["evaluations"]
    assert evaluations
    for record in evaluations:
        assert {"split", "nll", "num_samples", "num_examples", "date", "command"} <= set(record), record
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", record["date"]) and record["num_samples"] >= 1
    row = results_rows((REPO / "README.md").read_text()).get(f"{version.parent.name}/{version.name}")
    if row is not None:  # the README's estimate is one of the file's
        published = set(re.findall(r"\d+\.\d\d", row))
        assert {f"{record['nll']:.2f}" for record in evaluations} & published, (row, evaluations)


SCORE_TEXT = r"""
import json, sys, tensorflow as tf
path, sentences = sys.argv[1], json.loads(sys.argv[2])
per_request = "group_size" in json.load(open(path + "/tfvae.json"))["signatures"]["log_likelihood"]
s = tf.saved_model.load(path).signatures
samples = s["sample"](num_samples=tf.constant(3), seed=tf.constant(0))["sentences"].numpy()
assert samples.shape == (3,) and all(isinstance(x, bytes) for x in samples)
# An export that scores a request in groups (tfvae.json's group_size) gets it whole; versions 1-4 decode a
# whole request at once (about 12 GB for 200 sentences at K = 20): 25 sentences per request for them.
step = len(sentences) if per_request else 25
r = [s["log_likelihood"](sentences=tf.constant(sentences[i : i + step]), num_samples=tf.constant(20))
     for i in range(0, len(sentences), step)]
assert "tfvae" not in sys.modules
log_px, tokens = (tf.concat([x[k] for x in r], 0).numpy() for k in ("log_px", "tokens"))
# VmHWM is this process's own peak; getrusage's ru_maxrss survives exec and would report the pytest worker's.
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(float(-log_px.mean()), int(tokens.sum()), int(per_request), peak_kb)
"""


NEWEST = {max((p for p in TEXT_VERSIONS if p.parent == v.parent), key=lambda p: int(p.name)) for v in TEXT_VERSIONS}


@pytest.mark.parametrize("version", TEXT_VERSIONS, ids=[f"{p.parent.name}/{p.name}" for p in TEXT_VERSIONS])
@pytest.mark.long
def test_shipped_text_model_scores_ptb_as_recorded(version):
    """TensorFlow alone: sentences from the prior, and log p(x) of the first 200 PTB test sentences (K = 20) as
    the export's metrics.json recorded it from the Python model (float32 weights, other samples). Versions
    older than a model's newest score 25 sentences only: their graphs are committed files that do not change,
    so the check is that they still load and answer (about 40 s less each)."""
    ptb = REPO.parent / "shared" / "data" / "ptb" / "ptb.test.txt"
    if not ptb.exists():
        pytest.skip(f"{ptb} is missing")
    check = json.loads((version / "metrics.json").read_text())["check"]
    sentences = ptb.read_text().splitlines()[: check["num_examples"] if version in NEWEST else 25]
    result = subprocess.run(
        [sys.executable, "-c", SCORE_TEXT, str(version), json.dumps(sentences)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    nll, tokens, whole_request, peak_kb = result.stdout.split()
    if int(whole_request):  # one request of every sentence, scored in groups: the memory of a group, not of all
        assert int(peak_kb) < 4_000_000, f"peak RSS {int(peak_kb) // 1024} MB for one request of {len(sentences)}"
    assert int(tokens) == sum(len(s.split()) + 1 for s in sentences)  # every word and <eos> (none is cut)
    if version in NEWEST:
        assert int(tokens) == check["tokens"]
        assert abs(float(nll) - check["nll"]) < 1.0, (nll, check)
    else:
        assert 0 < float(nll) < 1000


@pytest.mark.parametrize("kind", ["reconstructions", "latent", "traversal", "interpolation"])
def test_plot_works_on_a_shipped_model(kind, tmp_path, monkeypatch):
    from tfvae.cli import main

    monkeypatch.setenv("TFVAE_DATA_DIR", str(mnist_dir()))
    out = tmp_path / f"{kind}.png"
    assert main(["plot", str(VERSIONS[-1]), "--kind", kind, "--num-points", "200", "--out", str(out)]) == 0
    assert out.stat().st_size > 2000


def test_sample_works_on_a_shipped_model_like_the_signature(tmp_path):
    import tensorflow as tf

    from tfvae.cli import main
    from tfvae.served import ExportedModel

    out = tmp_path / "x.png"
    assert main(["sample", str(VERSIONS[-1]), "--n", "16", "--out", str(out)]) == 0
    assert out.stat().st_size > 2000
    model = ExportedModel(VERSIONS[-1])
    signature = tf.saved_model.load(str(VERSIONS[-1])).signatures["sample"]
    expected = signature(num_samples=tf.constant(4), seed=tf.constant(3))["x"].numpy()
    np.testing.assert_array_equal(model.sample(4, seed=3).numpy(), expected)
    z = model.encode(expected).mean()
    assert z.shape == (4, model.latent_dim) and model.decode(z).mean().shape == (4, 28, 28, 1)


def test_curves_of_a_shipped_model_is_a_clear_error(tmp_path, capsys):
    from tfvae.cli import main

    assert main(["plot", str(VERSIONS[-1]), "--kind", "curves", "--out", str(tmp_path / "c.png")]) == 2
    assert "no training history" in capsys.readouterr().err


HIERARCHIES = [
    p for p in VERSIONS if len(json.loads((p / "tfvae.json").read_text())["model"].get("latent_dims", [0])) > 1
]


@pytest.mark.parametrize("version", HIERARCHIES, ids=[f"{p.parent.name}/{p.name}" for p in HIERARCHIES])
def test_each_layer_of_a_shipped_hierarchy_has_the_active_units_it_recorded(version):
    # Counted again from the export's encode signature (each layer's posterior mean) on 2,000 test images: a
    # collapsed layer shows 0, a live one what its evaluation on all 10,000 found (within a few units).
    import tensorflow as tf

    from tfvae.data import binarize_fixed, load_idx_dataset
    from tfvae.evaluation import active_units

    recorded = json.loads((version / "metrics.json").read_text())["eval"]["active_units_layers"]
    images = binarize_fixed(load_idx_dataset(mnist_dir()).test_images, seed=0)[:2000]
    encoded = tf.saved_model.load(str(version)).signatures["encode"](x=tf.constant(images))
    counts = [active_units(encoded["mean"].numpy())]
    counts += [active_units(encoded[f"mean_{layer}"].numpy()) for layer in range(2, len(recorded) + 1)]
    for count, expected in zip(counts, recorded):
        assert abs(count - expected) <= max(2, expected // 10), (counts, recorded)


def test_default_decoding_of_the_shipped_sentence_vae_never_loops():
    """tfvae sample's default on saved_models/ptb_sentence_vae/5: no sentence at the length limit, no word
    repeated back to back to it, no 3-gram twice, no <unk> (greedy decoding ran 13 % of 200 to the limit)."""
    import itertools

    from tfvae.backend import tf
    from tfvae.decoding import DEFAULT
    from tfvae.served import rebuild
    from tfvae.text import EOS, PAD, UNK

    model = rebuild(REPO / "saved_models/ptb_sentence_vae/5")
    n = DEFAULT.no_repeat_ngram
    ids = tf.function(lambda: model.sample(100, seed=0, decoding=DEFAULT))().numpy()
    for row in ids:
        words = [int(w) for w in row if w not in (PAD, EOS)]
        assert EOS in row and len(words) < model.max_length
        assert max(len(list(run)) for _, run in itertools.groupby(words)) <= n
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        assert len(grams) == len(set(grams)) and UNK not in words
