"""The README and the documentation site are tested: every ```python block and every command of a ```bash
block of ``README.md`` and of ``docs/**/*.md`` runs here.

The pages are parsed when the tests are collected, so a block added later (or a new page) is covered without
touching this file. Each fenced block is one test case, with an id made of its page, its section heading and its
index in that section (``install-and-run-1`` in the README, ``docs-images-variants-1`` on ``docs/images.md``); the
commands of a shell block run in order, in one working directory, so a later command sees what an earlier one
wrote. A block that appears word for word on several pages (the main job is on the README and on the site's front
page) is one test case, named after its first appearance (README first, then the pages in path order).

Where they run: a fresh temporary directory laid out like a checkout (``repo/`` with copies of ``configs/``
and ``scripts/``, empty ``runs/`` and ``saved_models/``) beside ``shared/data/mnist``, so the README's
``../shared/data/mnist`` resolves. That directory holds a slice of the real MNIST files (``conftest.mnist_dir()``):
the first 6,000 training images (the default validation split of 5,000 plus 1,000 to train on) and 500 test
images, in the same IDX format, so every command reads data through the same code path, only less of it; beside it
``shared/data/ptb`` holds the first 1,000 training and 100 valid and test sentences of the real Penn Treebank.
A block also gets what it reads but does not make:

* ``saved_models/NAME/N`` that it names and the repository ships: copied in;
* ``runs/NAME`` that it reads but does not train itself: trained once per test session by the pages' own
  ``tfvae train ... --out runs/NAME`` command (the first one, with the quick settings below), then copied in.

Quick settings: before a block runs, the explicit tables ``QUICK_SHELL``, ``ADDED_FLAGS`` and ``QUICK_PYTHON``
rewrite it (fewer epochs, K = 5 importance samples on 50 images, ...); each entry says why the rewritten command
still runs the same code. Commands that cannot run here are listed in ``SKIPPED`` (Python blocks in
``SKIPPED_PYTHON``) with the reason; each shows up as a skipped test. A command on any page that is neither in
``SKIPPED`` nor matched by ``RUNNABLE`` fails ``test_every_readme_command_is_run_or_listed`` (not a slow test),
so nothing drifts silently.
"""

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, mnist_dir, tfvae_in_process

README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]  # README first: a block on several pages is named after its README copy
TIMEOUT = 600  # seconds per command

SHELL_LANGUAGES = {"bash", "sh", "shell"}
PYTHON_LANGUAGES = {"python", "py", "python3"}
# Fenced blocks that are not programs: request/response examples, output listings.
INERT_LANGUAGES = {"json", "text", ""}

# Commands that are not run here: (regex on the command without its leading VAR=value assignments, reason).
SKIPPED = [
    (
        r"^python[\d.]* -m venv\b",
        "creates the virtual environment that these tests already run in (CI's wheel job makes a fresh one)",
    ),
    (
        r"^(\.|source) \S*bin/activate$",
        "activates that environment; the commands here run with the test interpreter's PATH",
    ),
    (
        r"^(python[\d.]* -m )?pip3? install\b",
        "installs tfvae, which the test environment has installed already; CI's wheel job tests the install",
    ),
    (
        r"^(python[\d.]* -m )?pytest\b",
        "the whole test suite, this module included (it would run itself); it is CI's test job",
    ),
    (
        r"^python scripts/hierarchy_levers\.py\b",
        "seven two-layer runs of 20 full-MNIST epochs and a K=1000 evaluation each (about 40 minutes here); "
        "tests/test_hierarchical.py trains, diagnoses and evaluates the same models on tiny data",
    ),
    (
        r"^python scripts/profile_train\.py\b",
        "three full runs of the README's main job in fresh processes plus six in-fit epochs (about 4 minutes); "
        "tests/test_training.py checks the pipeline it times",
    ),
    (
        r"^python scripts/text_throughput\.py\b",
        "minutes of full-size PTB training steps per variant; tests/test_text.py checks the same model's numbers",
    ),
    (
        r"^python scripts/autograph_cost\.py\b",
        "fifteen fresh processes per setting (minutes); tests/test_model.py checks the rule it measures",
    ),
    (
        r"^python scripts/(train_ptb|ptb_table)\.py "
        r"(--only bn_vae lm|-k 10 --only lm bn_vae|--convergence bn_vae --limit)\b",
        "the first PTB table's commands (2026-11-30): the same scripts, flags and code paths as the PTB section's "
        "first block, with two other configs (tests/test_runs.py parses every config); about 110 s of the suite",
    ),
    (
        r"^python scripts/export_cost\.py\b",
        "four models exported seven times each, two ways (minutes); tests/test_harness.py checks export()'s TFLite "
        "files and tests/test_export.py that export_tflite without a SavedModel gives the same outputs",
    ),
    (
        r"^git worktree add\b",
        "a checkout of an older commit for scripts/text_export_cost.py's baseline, which the suite does not run",
    ),
    (
        r"^python scripts/text_export_cost\.py\b",
        "eight fresh processes of four text exports each (about 7 minutes); tests/test_harness.py checks every "
        "signature of the four exports against the model",
    ),
    (
        r"^docker run\b",
        "no Docker engine here; tests/test_export.py checks TF Serving's request contract without a server",
    ),
    (
        r"^mkdocs\b",
        "builds this documentation site from the checkout (mkdocs.yml, docs/), not a workspace; CI runs "
        "`mkdocs build --strict` after the lint step (.ci/run)",
    ),
]

# Python blocks that are not run here: (regex on the block's code, reason). None so far: every block runs.
SKIPPED_PYTHON = []

# Commands run for real (after the quick settings): regexes on the command without VAR=value assignments.
RUNNABLE = [
    r"^(python -m )?tfvae\b",
    r"^python scripts/\w+\.py\b",
    r"^saved_model_cli show\b",
]

TFVAE = r"(python -m )?tfvae"  # the command line, either way
TRAINS = rf"^({TFVAE} train|python scripts/(train_mnist|compare_objectives|compare_text_vaes)\.py)\b"  # epochs shrink

# Quick settings for shell commands: (commands it applies to, regex, replacement, why it still runs the same code).
QUICK_SHELL = [
    (
        TRAINS,
        r"--epochs (\d+)",
        "--epochs {rank}",
        "one epoch runs the same training loop, checkpointing and final evaluation as many; where a block has several "
        "--epochs values, the smallest becomes 1, the next 2, ...: a larger --epochs still continues a run",
    ),
    (
        r"^python scripts/benchmark\.py\b",
        r"--epochs \d+",
        "--epochs 2",
        "the benchmark's minimum: one warm-up and one timed epoch",
    ),
    (
        r"^python scripts/benchmark\.py\b",
        r" --levers\b",
        "",
        "the baseline and tfvae rows of both networks without the five lever rows of each (4 runs instead of 14): a "
        "lever row is the same run() with one or two TrainSettings fields changed (XLA, steps per call, batch size "
        "and learning rate), and the suite trains with XLA on and off and 1 and 20 steps a call (tests/test_runs.py, "
        "the main job) and with other batch sizes and learning rates",
    ),
    (
        rf"^({TFVAE} (evaluate|score)|python scripts/(train_mnist|compare_objectives)\.py)\b",
        r"(--num-samples|-k) \d{3,}",
        r"\1 5",
        "K = 5 runs the same chunked importance-weighted estimator as K = 5000 (K >= 100 is an evaluation; "
        "a training K such as --objective iwae --num-samples 5 is kept)",
    ),
    (
        rf"^{TFVAE} evaluate\b.*--gaps",
        r"--limit \d+",
        "--limit 20",
        "20 images run the same per-example optimisation and gap estimates as 200",
    ),
    (
        rf"^{TFVAE} train\b.*--strategy multiworker",
        r'"worker": \[[^\]]*\]',
        '"worker": ["127.0.0.1:{port}"]',
        "the two-machine cluster becomes a one-worker cluster on this machine: the same TF_CONFIG parsing and "
        "MultiWorkerMirroredStrategy",
    ),
    (
        r"^python scripts/anomaly_tabular\.py\b",
        r"--seeds [\d ]+",
        "--seeds 0 ",
        "one split runs the same commands and baselines as five",
    ),
    (
        r"^python scripts/ptb_table\.py\b.*--convergence",
        r"--limit \d+",
        "--limit 10",
        "10 sentences run the same K = 10, 100 and 500 estimates as 100",
    ),
    (
        rf"^{TFVAE} evaluate\b.*--generation",
        r"--(n|limit) \d+",
        r"--\1 20",
        "20 samples and 20 test sentences run the same decoding, BLEU and perplexities as 200",
    ),
    (
        rf"^{TFVAE} export\b",
        r" --tflite\b",
        "",
        "the same SavedModel export without the two TFLite conversions (about 10 s each); tests/test_boundaries.py "
        "runs `tfvae export --tflite` and tests/test_harness.py checks the TFLite files of every variant",
    ),
    (
        rf"^{TFVAE} train\b",
        r"--data-dir /data/mnist\b",
        "--data-dir ../shared/data/mnist",
        "the other machines' data path, here the MNIST slice",
    ),
]
# A sentence VAE's training: by flags, by a PTB config (the flags override it) or by train_ptb.py (it passes them on).
TEXT_TRAINS = rf"^({TFVAE} train\b.*(--dataset text|--config configs/ptb/)|python scripts/train_ptb\.py\b)"
# Flags added where a command lacks them: (commands, flag, value, why).
ADDED_FLAGS = [
    (rf"^{TFVAE} train\b", "--epochs", "1", "one epoch instead of the default 10"),
    (rf"^{TFVAE} evaluate\b", "--limit", "50", "the first 50 test images: the same estimator on less data"),
    (r"^python scripts/train_mnist\.py\b", "--conv-num-samples", "5", "K of the conv model's evaluation (default 100)"),
    (r"^python scripts/benchmark\.py\b", "--epochs", "2", "one warm-up and one timed epoch (default 4)"),
    (r"^python scripts/benchmark\.py\b", "--limit", "1024", "1,024 training images per benchmarked run"),
    (
        r"^python scripts/train_ptb\.py\b",
        "--epochs",
        "1",
        "one epoch of each config's run: the same configs, processes and resumable runs as training to early stopping",
    ),
    (
        r"^python scripts/anomaly_tabular\.py\b",
        "--epochs",
        "20",
        "20 epochs of the same tfvae train, score and baselines as 100 (the bar of 0.9 is tests/test_table.py's)",
    ),
    (TEXT_TRAINS, "--rnn-units", "32", "a 32-unit LSTM runs the same code as 256 units"),
    (TEXT_TRAINS, "--embedding-dim", "32", "so do 32-dimensional word embeddings"),
    (r"^python scripts/compare_text_vaes\.py\b", "--units", "32", "the same decoder code with 32-unit LSTMs"),
    (r"^python scripts/generation_quality\.py\b", "--n", "20", "20 prior samples: the same measures as 500"),
    (r"^python scripts/generation_quality\.py\b", "--test", "20", "20 test sentences reconstructed and scored"),
    (
        r"^python scripts/generation_quality\.py\b",
        "--strategies",
        "'top_p 0.9, guards'",
        "the default strategy only: the same sampling, reconstruction and scoring code as all five",
    ),
    (
        r"^python scripts/compare_text_vaes\.py\b",
        "--only",
        "'free bits'",
        "the last variant only (KL annealing, word dropout and free bits together): the same training and scoring "
        "code as all five",
    ),
]
# Quick settings for Python blocks: (regex, replacement, why).
QUICK_PYTHON = [
    (r"\bepochs=\d+", "epochs=1", "one epoch runs the same fit"),
    (r"\bnum_samples=\d{3,}", "num_samples=5", "K = 5 runs the same importance-weighted estimator"),
]


@dataclass
class Command:
    text: str  # as written (continuations joined, trailing comment removed)
    index: int  # 1-based, within its block
    comment: str = ""  # its trailing comment

    @property
    def promised_paths(self):
        """Paths its comment says it writes (``# writes runs/x/eval.json``, ``# -> saved_models/x/1/``)."""
        paths = re.findall(r"(?:\bwrites|->)\s+([\w.-]+/[\w./-]*|[\w-]+\.\w+)", self.comment)
        return [p.rstrip(".,;:)") for p in paths]

    @property
    def program(self):
        """The command without its leading ``VAR=value`` assignments."""
        return strip_assignments(self.text)

    @property
    def skip_reason(self):
        return next((reason for pattern, reason in SKIPPED if re.search(pattern, self.program)), None)

    @property
    def runnable(self):
        return any(re.search(pattern, self.program) for pattern in RUNNABLE)


@dataclass
class Block:
    id: str
    language: str
    code: str
    line: int  # of the opening fence, 1-based
    commands: list = field(default_factory=list)
    page: str = "README.md"  # the file, relative to the repository root
    duplicate_of: str | None = None  # the id of an earlier block with the same language and code

    @property
    def where(self):
        return f"{self.page} line {self.line}"

    @property
    def kind(self):
        if self.language in SHELL_LANGUAGES:
            return "shell"
        if self.language in PYTHON_LANGUAGES:
            return "python"
        return "inert" if self.language in INERT_LANGUAGES else "unknown"


def strip_assignments(command):
    while match := re.match(r"""\s*[A-Za-z_]\w*=('[^']*'|"[^"]*"|\S*)\s+""", command):
        command = command[match.end() :]
    return command.strip()


def split_comment(line):
    """``(code, comment)``: ``line`` split at an unquoted ``#`` that starts a word (bash's comment rule)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def split_chain(command):
    """Splits ``a && b && c`` at unquoted ``&&``."""
    parts, quote, start, i = [], None, 0, 0
    while i < len(command):
        char = command[i]
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif command.startswith("&&", i):
            parts.append(command[start:i].strip())
            start = i = i + 2
            continue
        i += 1
    parts.append(command[start:].strip())
    return [p for p in parts if p]


def shell_commands(code):
    """The ``(command, trailing comment)`` pairs of a shell block: continuations joined, comment-only lines dropped,
    ``&&`` chains split (the comment goes with the chain's last command)."""
    lines, pending = [], ""
    for line in code.splitlines():
        if not pending and (not line.strip() or line.strip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += (line.rstrip()[:-1].strip() if pending else line.rstrip()[:-1].rstrip()) + " "
            continue
        lines.append(split_comment(pending + (line.strip() if pending else line)))
        pending = ""
    if pending:
        lines.append(split_comment(pending))
    commands = []
    for text, comment in lines:
        parts = split_chain(text.strip())
        commands += [(part, comment if i == len(parts) - 1 else "") for i, part in enumerate(parts)]
    return commands


def slug(heading, words=6):
    """``heading`` as an id: its first ``words`` words, lower case, joined by ``-``."""
    return "-".join(re.findall(r"[a-z0-9]+", heading.lower())[:words]) or "top"


def parse_readme(text, page="README.md", prefix=""):
    """Every fenced block of ``text``, with ids ``<prefix><section-slug>-<index in section>``."""
    blocks, heading, counts = [], "top", {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if heading_match := re.match(r"#{1,6}\s+(.*)", line):
            heading = re.sub(r"\s*\{[^}]*\}\s*$", "", heading_match.group(1))  # without an attribute list { #id }
        fence = re.match(r"(\s*)(```+|~~~+)\s*([\w.+-]*)", line)
        if not fence:
            i += 1
            continue
        start, marker, language = i, fence.group(2), fence.group(3).lower()
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i])
            i += 1
        i += 1
        section = slug(heading)
        counts[section] = counts.get(section, 0) + 1
        block = Block(f"{prefix}{section}-{counts[section]}", language, "\n".join(body) + "\n", start + 1, page=page)
        if block.kind == "shell":
            block.commands = [
                Command(text, n, comment) for n, (text, comment) in enumerate(shell_commands(block.code), 1)
            ]
        blocks.append(block)
    return blocks


def page_prefix(path):
    """The id prefix of a page's blocks: none for the README, ``docs-<path>-`` for ``docs/<path>.md``."""
    if path == README:
        return ""
    return "docs-" + "-".join(path.relative_to(DOCS).with_suffix("").parts) + "-"


def parse_pages(pages):
    """Every fenced block of ``pages``; a block with the same language and code as an earlier one is marked
    ``duplicate_of`` it (it runs once, as that one)."""
    blocks, first = [], {}
    for path in pages:
        for block in parse_readme(path.read_text(), str(path.relative_to(REPO)), page_prefix(path)):
            key = (block.kind, block.language if block.kind == "unknown" else "", block.code.strip())
            if block.kind in ("shell", "python") and key in first:
                block.duplicate_of = first[key]
            first.setdefault(key, block.id)
            blocks.append(block)
    return blocks


BLOCKS = parse_pages(PAGES)
RUN_BLOCKS = [b for b in BLOCKS if b.kind in ("shell", "python") and not b.duplicate_of]


def _add_flag(command, flag, value):
    return command if re.search(rf"(^|\s){re.escape(flag)}(\s|=|$)", command) else f"{command} {flag} {value}"


def epoch_ranks(commands):
    """``{N: rank}`` for the distinct ``--epochs N`` of ``commands``: 1 for the smallest, 2 for the next, ..."""
    values = sorted({int(n) for c in commands for n in re.findall(r"--epochs (\d+)", c)})
    return {n: rank for rank, n in enumerate(values, 1)}


def _expand(match, replacement, ranks):
    if "{rank}" in replacement:
        replacement = replacement.replace("{rank}", str(ranks[int(match.group(1))]))
    return match.expand(replacement)


def quick_shell(command, ranks=None):
    """``command`` with the quick settings applied (``ranks``: ``epoch_ranks`` of its block)."""
    ranks = ranks or epoch_ranks([command])
    program = strip_assignments(command)
    for applies, pattern, replacement, _ in QUICK_SHELL:
        if re.search(applies, program):
            command = re.sub(pattern, lambda m, r=replacement: _expand(m, r, ranks), command)
    for applies, flag, value, _ in ADDED_FLAGS:
        if re.search(applies, program):
            command = _add_flag(command, flag, value)
    if "{port}" in command:
        command = command.replace("{port}", str(free_port()))
    return command


def quick_python(code):
    for pattern, replacement, _ in QUICK_PYTHON:
        code = re.sub(pattern, replacement, code)
    return code


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RUN_REF = r"(?<![\w./-])runs/[\w.-]+"
SAVED_REF = r"(?<![\w./-])saved_models/[\w.-]+/\d+"


def out_value(command):
    try:
        tokens = shlex.split(command)
    except ValueError:
        return None
    for i, token in enumerate(tokens[:-1]):
        if token == "--out":
            return tokens[i + 1]
    return next((t.split("=", 1)[1] for t in tokens if t.startswith("--out=")), None)


def runs_read(block):
    """``runs/NAME`` directories the block reads before (or without) making them."""
    if block.kind == "python":
        return sorted(set(re.findall(RUN_REF, block.code)))
    made, needed = set(), []
    for command in block.commands:
        out = out_value(command.text)
        for ref in re.findall(RUN_REF, command.text):
            if ref != out and ref not in made and ref not in needed:
                needed.append(ref)
        if out and re.fullmatch(RUN_REF, out):
            made.add(out)
    return needed


def producer(run):
    """The pages' own (first) ``tfvae train ... --out runs/NAME`` command for ``run``."""
    for block in BLOCKS:
        for command in block.commands:
            if re.match(rf"^{TFVAE} train\b", command.program) and out_value(command.text) == run:
                return command
    return None


READ_RUNS = {run for block in RUN_BLOCKS for run in runs_read(block)}


# The long tier's blocks: those that train or run a script, those that read a run made by another block, those
# that load the shipped PTB export (10k words: 10-15 s a command; the fast tier samples it once in
# test_shipped_models) and per-example inference (--gaps: hundreds of Adam steps per example; tests/test_inference.py
# checks the gaps on small models).
LONG_BLOCK = r"tfvae train|scripts/|\.fit\(|saved_models/ptb_|--gaps"


def is_long(block):
    return bool(re.search(LONG_BLOCK, block.code) or runs_read(block))


def python_skip_reason(block):
    return next((reason for pattern, reason in SKIPPED_PYTHON if re.search(pattern, block.code)), None)


def _block_params():
    params = []
    for block in RUN_BLOCKS:
        if block.kind == "shell" and all(c.skip_reason for c in block.commands):
            continue  # reported by test_readme_skipped_command
        marks = [pytest.mark.long] if is_long(block) else []
        if block.kind == "python" and python_skip_reason(block):
            marks = [pytest.mark.skip(reason=python_skip_reason(block))]
        params.append(pytest.param(block, id=block.id, marks=marks))
    return params


def _skipped_params():
    return [
        pytest.param(c, id=f"{b.id}-{c.index}", marks=pytest.mark.skip(reason=f"{c.skip_reason}: {c.text}"))
        for b in RUN_BLOCKS
        for c in b.commands
        if c.skip_reason
    ]


# ---------------------------------------------------------------------------------------------- the workspace


@pytest.fixture(scope="session")
def mnist_slice(tmp_path_factory):
    """The first 6,000 training and 500 test images of the real MNIST files, as IDX files."""
    source = mnist_dir().resolve()
    assert (source / "train-images-idx3-ubyte.gz").exists(), f"the real MNIST files are not in {source}"
    from tfvae.data import write_idx_subset

    return write_idx_subset(source, tmp_path_factory.mktemp("mnist_slice"), train=6000, test=500)


_PTB_SLICE = []


def ptb_slice():
    """The first 1,000 training and 100 valid/test sentences of the real Penn Treebank (made once per process)."""
    if not _PTB_SLICE:
        source = REPO.parent / "shared" / "data" / "ptb"
        assert (source / "ptb.train.txt").exists(), f"the Penn Treebank files are not in {source}"
        target = Path(tempfile.mkdtemp(prefix="ptb_slice"))
        for split, n in (("train", 1000), ("valid", 100), ("test", 100)):
            lines = (source / f"ptb.{split}.txt").read_text().splitlines()[:n]
            (target / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")
        _PTB_SLICE.append(target)
    return _PTB_SLICE[0]


def make_workspace(root, data, code):
    """``root/repo`` laid out like a checkout, ``root/shared/data/mnist`` -> ``data`` and
    ``root/shared/data/ptb`` -> a slice of PTB; returns ``root/repo``."""
    (root / "shared" / "data").mkdir(parents=True)
    (root / "shared" / "data" / "mnist").symlink_to(data, target_is_directory=True)
    (root / "shared" / "data" / "ptb").symlink_to(ptb_slice(), target_is_directory=True)
    repo = root / "repo"
    repo.mkdir()
    for name in ("configs", "scripts"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "runs").mkdir()
    (repo / "saved_models").mkdir()
    for ref in sorted(set(re.findall(SAVED_REF, code))):
        if (REPO / ref).is_dir():
            shutil.copytree(REPO / ref, repo / ref)
    return repo


def environment():
    env = {k: v for k, v in os.environ.items() if k not in ("TFVAE_DATA_DIR", "TF_CONFIG")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONUNBUFFERED"] = "1"
    return env


# A plain tfvae command (no VAR=value before it, no pipe, redirection, substitution or glob) runs in this process:
# one TensorFlow start per test worker instead of one per command (5-7 s each, 65 commands on the long tier).
# Everything else runs in bash. The wheel job of .ci/run runs every command in a process of its own.
IN_PROCESS = re.compile(r"^(python -m )?tfvae (?!.*[|<>;&$`*?(){}\\]).*$")


def run_in_process(command, cwd):
    """``command`` (a plain ``tfvae ...``) through ``tfvae.cli.main`` in ``cwd`` with ``environment()``'s
    variables, after ``clear_session`` (Keras's layer names start over, as in a fresh process)."""
    from tfvae.backend import keras

    argv = shlex.split(command)
    argv = argv[3:] if argv[0] == "python" else argv[1:]
    saved_cwd, saved_env = os.getcwd(), dict(os.environ)
    keras.backend.clear_session()
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environment())
        return tfvae_in_process(*argv)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_shell(command, cwd):
    """Runs ``command`` with bash in ``cwd`` (a plain tfvae command in this process, ``IN_PROCESS``); fails the
    test with its output if it fails."""
    if IN_PROCESS.match(command):
        result = run_in_process(command, cwd)
    else:
        result = subprocess.run(
            ["bash", "-c", command], cwd=cwd, env=environment(), capture_output=True, text=True, timeout=TIMEOUT
        )
    output = (result.stdout + result.stderr)[-4000:]
    if result.returncode != 0:
        pytest.fail(
            f"command failed with exit status {result.returncode} in {cwd}:\n  {command}\n{output}", pytrace=False
        )
    out = out_value(command)
    if out and not out.startswith("-"):
        assert (cwd / out).exists(), f"{command}\ndid not write --out {out}:\n{output}"
    return result


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, mnist_slice):
    """``get("runs/NAME")``: that run, trained once per session by the README's own command (quick settings)."""
    cache = {}

    def get(run):
        if run not in cache:
            command = producer(run)
            assert command is not None, f"the pages read {run} but no page's 'tfvae train --out {run}' makes it"
            repo = make_workspace(tmp_path_factory.mktemp("readme_producer"), mnist_slice, command.text)
            run_shell(quick_shell(command.text), repo)
            cache[run] = repo / run
        return cache[run]

    return get


# ------------------------------------------------------------------------------------------------------ tests


def test_readme_has_blocks_to_run():
    assert any(b.kind == "python" for b in BLOCKS) and any(b.kind == "shell" for b in BLOCKS)
    ids = [b.id for b in BLOCKS]
    assert len(ids) == len(set(ids)), ids


def test_the_docs_pages_are_collected():
    """The site's pages are tested with the README: each guide with code has blocks here."""
    pages = {b.page for b in BLOCKS}
    assert "README.md" in pages
    for page in (
        "docs/index.md",
        "docs/images.md",
        "docs/hierarchical.md",
        "docs/sentences.md",
        "docs/export.md",
        "docs/training.md",
        "docs/results.md",
    ):
        assert page in pages, page
    duplicates = [b for b in BLOCKS if b.duplicate_of]
    assert all(any(o.id == b.duplicate_of and o.code.strip() == b.code.strip() for o in BLOCKS) for b in duplicates)
    assert [b.page for b in BLOCKS if b.id == "install-and-run-1"] == ["README.md"]  # the main job, tested once


def test_every_readme_command_is_run_or_listed():
    """A README command must be runnable here (``RUNNABLE``) or skipped with a reason (``SKIPPED``)."""
    unknown = [
        f"{b.id} ({b.where}): {c.text}" for b in BLOCKS for c in b.commands if not c.skip_reason and not c.runnable
    ]
    assert not unknown, (
        "README or docs commands that tests/test_readme.py neither runs nor lists in SKIPPED "
        "(add a RUNNABLE pattern with quick settings, or a SKIPPED entry with the reason):\n" + "\n".join(unknown)
    )
    odd = [f"{b.id} ({b.where}): ```{b.language}" for b in BLOCKS if b.kind == "unknown"]
    assert not odd, "README or docs blocks in a language this module does not know how to run or ignore:\n" + "\n".join(
        odd
    )


def test_every_skip_entry_is_used():
    """``SKIPPED`` lists only commands the pages have, so the list stays theirs."""
    programs = [c.program for b in BLOCKS for c in b.commands]
    stale = [pattern for pattern, _ in SKIPPED if not any(re.search(pattern, p) for p in programs)]
    stale += [
        pattern
        for pattern, _ in SKIPPED_PYTHON
        if not any(re.search(pattern, b.code) for b in BLOCKS if b.kind == "python")
    ]
    assert not stale, f"SKIPPED entries that match no README or docs command: {stale}"


def test_quick_settings_keep_the_command():
    assert (
        quick_shell("tfvae train --data-dir d --epochs 300 --out runs/x")
        == "tfvae train --data-dir d --epochs 1 --out runs/x"
    )
    assert quick_shell("tfvae evaluate runs/x -k 5000") == "tfvae evaluate runs/x -k 5 --limit 50"
    assert (
        quick_shell("tfvae train --objective iwae --num-samples 5 --out r")
        == "tfvae train --objective iwae --num-samples 5 --out r --epochs 1"
    )
    assert [
        quick_shell(c, epoch_ranks(["--epochs 10", "--epochs 20"]))
        for c in ("tfvae train --epochs 20 --out r", "tfvae train --epochs 10 --out r")
    ] == ["tfvae train --epochs 2 --out r", "tfvae train --epochs 1 --out r"]
    assert shell_commands("a && b # c\n  # d\ne \\\n  --f 'x && #y'\n") == [
        ("a", ""),
        ("b", "c"),
        ("e --f 'x && #y'", ""),
    ]
    assert Command("x", 1, "writes runs/a/eval.json").promised_paths == ["runs/a/eval.json"]
    assert Command("x", 1, "-> saved_models/m/1/").promised_paths == ["saved_models/m/1/"]
    assert Command("x", 1, "453 s, 2.0 GB peak RSS").promised_paths == []


@pytest.mark.parametrize("command", _skipped_params())
def test_readme_skipped_command(command):
    raise AssertionError("never runs: listed in SKIPPED")


@pytest.mark.parametrize("block", _block_params())
def test_readme_block(block, tmp_path, mnist_slice, trained_runs):
    repo = make_workspace(tmp_path, mnist_slice, block.code)
    for run in runs_read(block):
        source = trained_runs(run)
        if not (repo / run).exists():
            shutil.copytree(source, repo / run)
    if block.kind == "python":
        (repo / "readme_block.py").write_text(quick_python(block.code))
        result = subprocess.run(
            [sys.executable, "readme_block.py"],
            cwd=repo,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        if result.returncode != 0:
            pytest.fail(
                f"block {block.id} ({block.where}) failed in {repo}:\n{block.code}\n"
                f"{(result.stdout + result.stderr)[-4000:]}",
                pytrace=False,
            )
        return
    ranks = epoch_ranks([c.text for c in block.commands if re.search(TRAINS, c.program)])
    for command in block.commands:
        if command.skip_reason:
            continue
        if not command.runnable:
            pytest.fail(f"{block.where}: command neither runnable nor in SKIPPED: {command.text}", pytrace=False)
        out = out_value(command.text)
        if (
            out in READ_RUNS
            and producer(out) is command
            and not (repo / out).exists()
            and quick_shell(command.text, ranks) == quick_shell(command.text)
        ):
            # This command makes a run that other blocks read: trained_runs ran it (once per session); reuse that.
            shutil.copytree(trained_runs(out), repo / out)
            continue
        run_shell(quick_shell(command.text, ranks), repo)
        for path in command.promised_paths:
            assert (repo / path).exists(), f"{block.where} says '{command.text}' writes {path}; it did not"
