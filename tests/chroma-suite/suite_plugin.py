"""pytest plugin used by scripts/chroma-suite.sh while running Chroma's own
test suite (from the chromadb wheel) against a server.

* Deselects the tests listed in the file named by CHROMA_SUITE_DESELECT.
  Each non-comment line is a node id, with this matching rule:
    - an entry matches a test whose node id is exactly the entry, or starts
      with the entry followed by "[" (all parametrizations, and the
      "[single-region]" suffix Chroma's conftest appends to every node id);
    - an entry ending in "*" matches every node id starting with the rest;
    - an entry without "::" matches every test in that file.
  Everything after " #" on a line is a comment.
* Writes one line per test to CHROMA_SUITE_RESULTS: "<outcome> <node id>",
  outcome being passed, failed, error, skipped, xfailed, xpassed or
  deselected. A test counts as passed only if setup, call and teardown all
  succeeded.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import pytest

_outcomes: Dict[str, str] = {}
_order: List[str] = []


def _load_entries(path: Optional[str]) -> List[str]:
    if not path or not os.path.exists(path):
        return []
    entries = []
    with open(path) as f:
        for line in f:
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            entries.append(line)
    return entries


def _matches(nodeid: str, entry: str) -> bool:
    if entry.endswith("*"):
        return nodeid.startswith(entry[:-1])
    if "::" not in entry:
        return nodeid.startswith(entry.rstrip("/") + "::") or nodeid.startswith(entry.rstrip("/") + "/")
    return nodeid == entry or nodeid.startswith(entry + "[")


def _record(nodeid: str, outcome: str) -> None:
    if nodeid not in _outcomes:
        _order.append(nodeid)
        _outcomes[nodeid] = outcome
        return
    previous = _outcomes[nodeid]
    # a failure in any phase wins over an earlier pass
    if previous == "passed" and outcome in ("failed", "error"):
        _outcomes[nodeid] = outcome


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    entries = _load_entries(os.environ.get("CHROMA_SUITE_DESELECT"))
    if not entries:
        return
    keep, drop = [], []
    for item in items:
        (drop if any(_matches(item.nodeid, e) for e in entries) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        for item in drop:
            _record(item.nodeid, "deselected")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            _record(report.nodeid, "xfailed" if report.skipped else "xpassed")
        elif report.passed:
            _record(report.nodeid, "passed")
        elif report.skipped:
            _record(report.nodeid, "skipped")
        else:
            _record(report.nodeid, "failed")
    else:  # setup / teardown
        if report.failed:
            _record(report.nodeid, "error")
        elif report.skipped and report.when == "setup":
            _record(report.nodeid, "xfailed" if hasattr(report, "wasxfail") else "skipped")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("CHROMA_SUITE_RESULTS")
    if not path:
        return
    with open(path, "w") as f:
        for nodeid in _order:
            f.write(f"{_outcomes[nodeid]} {nodeid}\n")
