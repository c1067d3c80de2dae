"""What a benchmark ran with: torch's threads, the CPUs, and the machine's load average when it started."""

from __future__ import annotations

import os
import sys


def load_average() -> list[float]:
    """The load average over the last 1, 5 and 15 minutes (taken before a benchmark: its own load is not in it)."""
    return [round(x, 2) for x in os.getloadavg()]


def machine(load: list[float]) -> dict:
    """The figures of the machine a benchmark ran on; torch's threads only when torch was loaded (None otherwise:
    nothing ran on it). Taken after the run, so a backend's `threads` setting shows."""
    torch = sys.modules.get("torch")
    return {
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "cpus": os.cpu_count(),
        "load_average": load,
    }


def machine_line(figures: dict) -> str:
    threads = figures["torch_threads"]
    torch = "torch not loaded" if threads is None else f"torch on {threads} thread{'s' * (threads != 1)}"
    load = " ".join(f"{x:.2f}" for x in figures["load_average"])
    return f"ran with {torch}, {figures['cpus']} CPUs; load average {load} (1, 5, 15 min) at the start"
