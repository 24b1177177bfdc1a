"""Full-size reliability run: prints the chaos figures (and fails loudly on any broken promise).

    .venv/bin/python tests/reliability/run_full.py [--ci-size] [--keep DIR]

500 accounts, 1,500 contacts and about 2,000 activated orders (``FULL_SIZE``) under 10 % 500s, 5 %
429s, 2 % lost-after-commit responses, latency jitter and tokens dying every 60 s of sandbox time,
with the connector SIGKILLed at random moments and restarted; then one clean convergence run.
The fuzz and secrets tests run at full size with ``ML_CONNECTOR_FULL_RELIABILITY=1 pytest
tests/reliability``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_harness import CI_SIZE, FULL_SIZE, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--ci-size", action="store_true", help="the reduced size CI runs")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp one)")
    args = parser.parse_args()
    size = CI_SIZE if args.ci_size else FULL_SIZE
    with tempfile.TemporaryDirectory(prefix="ml-chaos-") as temp:
        folder = args.keep or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        report = run_chaos(folder, size, log=lambda line: print(line, flush=True))
    print(json.dumps(report.figures(), indent=1))
    found = report.findings
    problems = found.problems if found else ["no findings"]
    for problem in problems[:50]:
        print("PROBLEM:", problem)
    if report.faulted_run_exit:
        failed = [line for line in report.faulted_run_output.splitlines() if "flow.failed" in line]
        print("the run under faults that was left to finish:", *failed[-5:], sep="\n  ")
    if report.convergence_exit != 0:
        print(report.convergence_output)
    return 0 if not problems and report.convergence_exit == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
