"""Issue 37's done-when: a Keras 3 user's script (tests/helpers/keras3_workflow.py) runs tfvae end to end."""

import os
import subprocess
import sys
from pathlib import Path

HELPER = Path(__file__).parent / "helpers" / "keras3_workflow.py"
REPO = Path(__file__).parents[1]


def test_a_keras3_users_workflow_runs_end_to_end(tmp_path):
    """Keras 3 optimizers, callbacks, Sequential and conv networks, .keras saving, a bigger model, mixed precision,
    MirroredStrategy, the hierarchical and sentence VAEs: each step of the script asserts its own outcome. A
    subprocess with TFVAE_KERAS unset, as in a user's fresh environment (Keras 3 is the default, whatever the test
    worker runs on), and for its two logical CPUs."""
    env = {key: value for key, value in os.environ.items() if key != "TFVAE_KERAS"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, str(HELPER), str(tmp_path)], env=env, capture_output=True, text=True, timeout=600
    )
    steps = [line for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert done.returncode == 0, f"after {steps}:\n{done.stderr[-3000:]}"
    assert len(steps) == 10 and done.stdout.strip().endswith("all steps passed"), done.stdout
