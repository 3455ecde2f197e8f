"""Fault-injection scenarios: the summary table printed after the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.reliability.harness import REPORT

REPORT_FILE = Path(__file__).resolve().parents[2] / ".cache" / "reliability-report.json"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    columns = list(dict.fromkeys(k for row in REPORT for k in row))
    widths = {c: max(len(c), *(len(str(row.get(c, ""))) for row in REPORT)) for c in columns}
    terminalreporter.section("reliability scenarios")
    terminalreporter.write_line("  ".join(c.ljust(widths[c]) for c in columns))
    for row in REPORT:
        terminalreporter.write_line(
            "  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns)
        )
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(json.dumps(REPORT, indent=2, ensure_ascii=False))
