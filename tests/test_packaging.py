"""tfvae as a released package: its declared runtime dependencies cover every import of every module and
command, ``import tfvae`` is light, its public names resolve, and the version is written once."""

import importlib.metadata
import json
import os
import pkgutil
import re
import subprocess
import sys
import tomllib
import types

import pytest
from packaging.requirements import Requirement

import tfvae
from conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# Prepended to every child script: modules in $TFVAE_BLOCKED cannot be imported, as if not installed.
BLOCKER = """
import importlib.abc, json, os, sys

BLOCKED = frozenset(json.loads(os.environ["TFVAE_BLOCKED"]))
assert not BLOCKED & {m.partition(".")[0] for m in sys.modules}, "a blocked module was imported at startup"


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not a runtime dependency of tfvae)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
"""


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements):
    """Canonical names of the distributions that ``requirements`` install, dependencies included (as installed)."""
    found, done, todo = set(), set(), [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        name = _canonical(requirement.name)
        found.add(name)
        for extra in ("", *sorted(requirement.extras)):
            if (name, extra) in done:
                continue
            done.add((name, extra))
            try:
                requires = importlib.metadata.requires(requirement.name) or []
            except importlib.metadata.PackageNotFoundError:
                continue
            for text in requires:
                dependency = Requirement(text)
                if dependency.marker is None or dependency.marker.evaluate({"extra": extra}):
                    todo.append(dependency)
    return found


def optional_modules():
    """Top-level modules that only the extras bring (pytest, scipy, LiteRT, ... and their own dependencies)."""
    project = PYPROJECT["project"]
    runtime = _closure(project["dependencies"])
    optional = _closure(r for extra in project["optional-dependencies"].values() for r in extra) - runtime
    return sorted(
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if module.isidentifier() and all(_canonical(d) in optional for d in distributions)
    )


BLOCKED = optional_modules()


def run_runtime_only(script, timeout=600):
    """Runs ``script`` in a fresh Python where only tfvae's runtime dependencies can be imported."""
    env = {**os.environ, "TFVAE_BLOCKED": json.dumps(BLOCKED), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + script], capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout
    )


def submodules():
    return sorted(info.name for info in pkgutil.iter_modules(tfvae.__path__))


def test_the_blocked_modules_are_the_extras():
    for module in ("pytest", "scipy", "hypothesis", "ai_edge_litert", "tensorflow_serving"):
        assert module in BLOCKED
    for module in ("tensorflow", "tensorflow_probability", "tf_keras", "numpy", "matplotlib", "tfvae"):
        assert module not in BLOCKED
    result = run_runtime_only("import scipy")
    assert result.returncode == 1 and "ModuleNotFoundError: No module named 'scipy'" in result.stderr


def test_every_module_imports_with_the_runtime_dependencies_only():
    names = [f"tfvae.{name}" for name in submodules()]
    result = run_runtime_only(f"import importlib\nfor name in {names!r}:\n    importlib.import_module(name)\n")
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_command_runs_help_with_the_runtime_dependencies_only():
    from tfvae.cli import build_parser

    (subparsers,) = [a for a in build_parser()._actions if a.dest == "command"]
    for argv in [["--version"], ["--help"], *([command, "--help"] for command in subparsers.choices)]:
        script = f"import runpy\nsys.argv = ['tfvae', *{argv!r}]\nrunpy.run_module('tfvae', run_name='__main__')\n"
        result = run_runtime_only(script)
        assert result.returncode == 0, (argv, result.stderr[-3000:])
        assert result.stdout.strip(), argv


def test_every_command_works_with_the_runtime_dependencies_only(tmp_path, tiny_idx_dir):
    from tfvae.cli import PLOT_KINDS

    run, data = str(tmp_path / "run"), str(tiny_idx_dir)
    commands = [
        [
            "train",
            "--data-dir",
            data,
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--validation-size",
            "64",
            "--latent-dim",
            "2",
            "--hidden-units",
            "16",
            "--jit-compile",
            "off",
            "--out",
            run,
            "--verbose",
            "0",
        ],
        ["evaluate", run, "-k", "4", "--limit", "16", "--batch-size", "16"],
        ["sample", run, "--n", "4", "--out", str(tmp_path / "samples.png")],
        *(
            ["plot", run, "--kind", kind, "--num-points", "32", "--out", str(tmp_path / f"{kind}.png")]
            for kind in PLOT_KINDS
        ),
        ["export", run, "--out", str(tmp_path / "saved"), "--tflite"],
        [
            "evaluate",
            str(tmp_path / "saved" / "1"),
            "-k",
            "4",
            "--limit",
            "16",
            "--batch-size",
            "16",
            "--data-dir",
            data,
            "--out",
            str(tmp_path / "saved_eval.json"),
        ],
    ]
    script = f"from tfvae.cli import main\nfor argv in {commands!r}:\n    assert main(argv) == 0, argv\n"
    result = run_runtime_only(script)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("samples.png", *(f"{kind}.png" for kind in PLOT_KINDS), "saved_eval.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "saved" / "1" / "vae.tflite").exists()


def test_import_tfvae_does_not_load_tensorflow():
    script = "import sys, tfvae\nassert 'tensorflow' not in sys.modules, 'import tfvae loaded TensorFlow'\n"
    result = run_runtime_only(script + "print(tfvae.__version__)")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == tfvae.__version__


def test_every_public_name_resolves():
    unlisted = set(submodules()) - set(tfvae.__all__) - set(tfvae._INTERNAL)
    assert not unlisted, f"list {sorted(unlisted)} in tfvae._SUBMODULES (public API) or tfvae._INTERNAL"
    for name in tfvae.__all__:
        value = getattr(tfvae, name)
        if name in submodules():
            assert isinstance(value, types.ModuleType) and value.__name__ == f"tfvae.{name}"
    assert tfvae.VAE is tfvae.model.VAE
    assert callable(tfvae.export.export) and callable(tfvae.evaluation.evaluate)
    assert set(tfvae.__all__) <= set(dir(tfvae))
    with pytest.raises(AttributeError):
        tfvae.no_such_name  # noqa: B018


def test_the_version_is_written_once():
    assert "version" in PYPROJECT["project"]["dynamic"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tfvae.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", tfvae.__version__)
    assert f"## [{tfvae.__version__}]" in (REPO / "CHANGELOG.md").read_text()


def _tfvae_imports():
    """{module: the tfvae modules it imports, at the top or inside a function}, read from the source."""
    import ast

    package = REPO / "tfvae"
    modules = {path.stem for path in package.glob("*.py")}
    graph = {}
    for name in modules:
        found = set()
        for node in ast.walk(ast.parse((package / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tfvae":
                parts = node.module.split(".")
                found |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("tfvae.")}
        graph[name] = (found & modules) - {name}
    return graph


def test_the_package_has_no_import_cycle():
    """Modules import each other one way only (function-level imports count: they hide a cycle, not remove it)."""
    graph = _tfvae_imports()

    def reaches(start, target, seen):
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph[start])

    cycles = sorted(name for name in graph if reaches(name, name, {name}))
    assert not cycles, f"modules on an import cycle: {cycles}"


# The command line's modules: they may import the library; the library never imports them (no upward arrow).
COMMAND_MODULES = {"__main__", "cli", "image_commands", "text_commands"}


def test_no_library_module_imports_the_command_line():
    graph = _tfvae_imports()
    upward = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name not in COMMAND_MODULES
        for target in targets & COMMAND_MODULES
    )
    assert not upward, f"library modules that import the command line's: {upward}"
