"""The documentation of the code: the docstring examples of the public API run as doctests, and the site builds.

Every ``>>>`` example in the docstrings of ``tfvae`` and its public submodules (``tfvae.__all__``) is collected
when the tests are, one test case per docstring, so an example added later is covered without touching this file.
Two rules keep them honest:

* an example whose output is written in the docstring must print exactly that (with NumPy's pre-2.0 scalar repr,
  ``-1.837877`` rather than ``np.float32(-1.837877)``, as the examples are written);
* a few docstrings show calls without their output (a Keras ``History``, a tensor, a progress bar) and use names
  the docstring does not define (``train_dataset``, ``x_test``, ``sentences``). They are listed in ``RUN_ONLY``
  with the reason: they run, with those names bound to small data, and a line without a written output may
  print anything; a line with one must still match.

A docstring whose written output is wrong is listed in ``WRONG_OUTPUT`` (a strict xfail, with the reason) until
its module is fixed.

``test_the_site_builds_strictly`` runs ``mkdocs build --strict`` where the ``docs`` extra is installed (CI's dev
environment; skipped elsewhere): a broken link or anchor, a missing API object or an unresolved cross-reference
fails it.
"""

import doctest
import importlib
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import tfvae
from conftest import REPO, blob_images

PUBLIC_MODULES = [
    "tfvae",
    *(f"tfvae.{name}" for name in tfvae.__all__ if name not in ("VAE", "SentenceVAE", "__version__")),
]

# Docstrings whose examples show calls, not their printed results: (qualified name, reason).
RUN_ONLY = {
    "tfvae.model.VAE": "shows compile/fit/elbo/sample without their output (a History, a progress bar, a tensor); "
    "train_dataset and x_test are 64 blob images",
    "tfvae.sentence.SentenceVAE": "shows build/compile/fit/sample without their output; sentences are 64 short "
    "made-up sentences",
}

# Docstrings whose written output is wrong, to be fixed in the docstring (not here): (name, reason). Strict
# xfail: once the docstring is fixed the test passes, fails as XPASS, and the entry must go.
WRONG_OUTPUT = {
    "tfvae.distributions.BernoulliLikelihood": "its example writes 784 * log(1/2) computed in float64 "
    "(-543.4273681640625); the float32 sum prints -543.4275512695312 "
    "(tfvae/distributions.py, the line after 'p = head(...)')",
}

# Docstrings that must have examples: a finder that silently finds nothing would otherwise pass.
EXPECTED = {
    "tfvae",
    "tfvae.model.VAE",
    "tfvae.sentence.SentenceVAE",
    "tfvae.distributions.DiagonalNormalPosterior",
    "tfvae.distributions.BernoulliLikelihood",
    "tfvae.priors.StandardNormalPrior",
}


def find_doctests():
    finder, tests = doctest.DocTestFinder(exclude_empty=True), {}
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                tests.setdefault(test.name, test)
    return [tests[name] for name in sorted(tests)]


DOCTESTS = find_doctests()


def example_names():
    """The names that RUN_ONLY examples use without defining them: small data, made on first use."""
    from tfvae.data import make_pipeline

    images, _ = blob_images(64, seed=5)
    x = (images > 127).astype(np.float32)
    words = ["the", "market", "fell", "company", "said", "it", "would", "buy", "unit", "sharply"]
    rng = np.random.default_rng(0)
    sentences = [" ".join(rng.choice(words, rng.integers(3, 9))) for _ in range(64)]
    return {
        "train_dataset": make_pipeline(images, batch_size=32, binarize="dynamic"),
        "x_test": x,
        "sentences": sentences,
        "tfvae": tfvae,
    }


class RunOnlyChecker(doctest.OutputChecker):
    """A line with no written output may print anything; a line with one must match it."""

    def check_output(self, want, got, optionflags):
        return want == "" or super().check_output(want, got, optionflags)


def test_the_public_docstring_examples_are_collected():
    names = {test.name for test in DOCTESTS}
    assert EXPECTED <= names, EXPECTED - names
    assert set(RUN_ONLY) <= names, f"RUN_ONLY entries without examples: {set(RUN_ONLY) - names}"
    assert set(WRONG_OUTPUT) <= names, f"WRONG_OUTPUT entries without examples: {set(WRONG_OUTPUT) - names}"


def _doctest_params():
    return [
        pytest.param(
            test,
            id=test.name,
            marks=[pytest.mark.xfail(strict=True, reason=WRONG_OUTPUT[test.name])] if test.name in WRONG_OUTPUT else [],
        )
        for test in DOCTESTS
    ]


@pytest.mark.parametrize("test", _doctest_params())
def test_docstring_examples(test):
    test = doctest.DocTest(test.examples, dict(test.globs), test.name, test.filename, test.lineno, test.docstring)
    if test.name in RUN_ONLY:
        test.globs.update(example_names())
    checker = RunOnlyChecker() if test.name in RUN_ONLY else doctest.OutputChecker()
    runner = doctest.DocTestRunner(checker=checker, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    options = np.get_printoptions()
    np.set_printoptions(legacy="1.25")  # the examples are written with NumPy's pre-2.0 scalar repr
    try:
        runner.run(test, out=report.append, clear_globs=True)
    finally:
        np.set_printoptions(**options)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{test.name} ({test.filename}:{test.lineno}):\n" + "".join(report)


def test_the_site_builds_strictly(tmp_path):
    """``mkdocs build --strict``, as CI runs it (needs the ``docs`` extra)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    index = (tmp_path / "site" / "index.html").read_text()
    assert f"tfvae {tfvae.__version__}" in index  # the version, read by docs/_hooks/version.py


def test_the_site_reads_the_version_from_the_source():
    spec = importlib.util.spec_from_file_location("docs_version_hook", REPO / "docs" / "_hooks" / "version.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    assert hook.read_version(REPO) == tfvae.__version__
