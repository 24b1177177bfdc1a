"""Chaos: faults on both sandboxes, the connector killed with SIGKILL again and again, then one clean
run — every promise checked against the sandboxes' own records (see reliability_invariants)."""

from __future__ import annotations

import json
from pathlib import Path

from reliability_harness import ChaosSize, run_chaos


def test_killed_connector_under_faults_converges_to_exactly_once(
    tmp_path: Path, chaos_size: ChaosSize
) -> None:
    report = run_chaos(tmp_path, chaos_size, log=print)
    print(json.dumps(report.figures(), indent=1))
    assert report.kills >= chaos_size.kills
    assert report.faults.get("500", 0) > 0 and report.faults.get("429", 0) > 0
    assert report.faults.get("lost_response", 0) > 0
    assert report.token_expiries > 0, "no token died during the chaos"
    assert report.faulted_run_exit == 0, report.faulted_run_output[-3000:]
    assert report.convergence_exit == 0, report.convergence_output
    # The chaos did real work: records were made while faults and kills were going on.
    assert all(report.made_under_faults.get(k, 0) > 0 for k in ("customers", "contacts", "invoices"))
    found = report.findings
    assert found is not None
    assert found.problems == []
    assert (found.duplicates, found.lost) == (0, 0)
    assert found.accounts == chaos_size.accounts
    assert found.contacts == chaos_size.accounts * chaos_size.contacts_per_account
    assert found.activated_orders > 0 and found.parked_orders > 0
