"""Schemathesis against a live env server: the checks issue 13 asks for, and a summary of the run."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "unsupported_method", "allow_header_conformance")


@dataclass
class FuzzRun:
    cases: int
    failures: list[dict]
    server_errors: int  # distinct 5xx answers found (schemathesis's ServerError failures)
    output: str  # schemathesis's own report, to read when something failed


def fuzz(url: str, max_examples: int, phases: str = "coverage,fuzzing,stateful", seed: int = 13,
         timeout: float = 1800, mode: str = "all") -> FuzzRun:
    """Run schemathesis's CLI against the server at `url` (its /openapi.json) and summarise it; `mode`
    "negative" sends only requests the schema forbids, "all" valid ones too."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json", "--checks", ",".join(CHECKS),
               "--max-examples", str(max_examples), "--phases", phases, "--mode", mode, "--workers", "1",
               "--seed", str(seed), "--generation-database", "none", "--no-color", "--request-timeout", "300",
               "--report", "json", "--report-json-path", str(report)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        if not report.exists():
            raise RuntimeError(f"schemathesis wrote no report:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        data = json.loads(report.read_text())
    failures = data["failures"] + data["errors"]
    server_errors = sum(f.get("count", 1) for f in data["failures"] if f.get("type") == "ServerError")
    return FuzzRun(data["test_cases"]["generated"], failures, server_errors, proc.stdout)
