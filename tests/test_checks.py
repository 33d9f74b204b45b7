"""foundation/checks.py is the one definition of a check and its status: the anchoring core's
proof verdicts, the chain anchor verdict and the verifier's report all use it."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from credshare.anchoring import chain, proof
from credshare.foundation import checks
from credshare.verifier import report
from tests.helpers import python_files, tree_of


def test_the_cores_share_one_check_and_one_status() -> None:
    assert proof.Check is report.Check is checks.Check
    assert proof.Status is report.Status is checks.Status
    assert typing.get_type_hints(chain.ChainVerdict)["status"] == checks.Status
    assert typing.get_type_hints(checks.Check)["status"] == checks.Status


def test_every_check_name_has_a_label() -> None:
    assert set(checks.CHECK_LABELS) == set(typing.get_args(checks.CheckName))
    assert report.CHECK_LABELS is checks.CHECK_LABELS


def test_no_other_module_defines_a_check_or_status_type() -> None:
    found = []
    for rel in python_files():
        if rel == Path("foundation/checks.py"):
            continue
        for node in tree_of(rel).body:
            names = ([node.name] if isinstance(node, ast.ClassDef) else
                     [t.id for t in node.targets if isinstance(t, ast.Name)] if isinstance(node, ast.Assign) else [])
            found += [f"{rel}:{name}" for name in names if name in {"Check", "Status", "VerdictStatus", "CHECK_LABELS"}]
    assert found == []
