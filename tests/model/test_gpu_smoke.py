"""bench/gpu_smoke.py's dry run: the GPU smoke test's code paths on a tiny model on the CPU, so the script
is known to run before the day a GPU machine runs it at real size."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_smoke.py"


def test_gpu_smoke_dry_run_measures_every_row():
    run = subprocess.run([sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = run.stdout.split("\nwhat ", 1)[1]
    for row in ("train: RGBA decoder, 5 steps", "train: adapter, 5 steps", "adapter: load (LoRA fused, then unloaded)",
                "adapter: one step", "joint dual-stream step", "two Fill steps", "LoRA fused but kept",
                "model CPU offload", "bnb4"):
        assert row in table, row
    assert "FAILED" not in table
    assert "× two Fill steps" in table
    # the counted weights docs/model.md's memory table comes from
    assert "11902.4 M parameters" in run.stdout and "LoRA at rank 256" in run.stdout
