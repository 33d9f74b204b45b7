"""One error hierarchy (foundation/errors.py): every error is made the same way,
``XError(detail, *, code=..., stage=...)``, carries a stable code and the stage it belongs to,
and the pure cores' errors are part of it."""

from __future__ import annotations

import ast
import importlib
import pkgutil

import pytest

import credshare
from credshare.anchoring import errors as anchoring_errors
from credshare.anchoring.chain import AnchorError, AnchorPublishError
from credshare.anchoring.errors import AnchoringError
from credshare.anchoring.merkle import MerkleError
from credshare.disclosure import errors as disclosure_errors
from credshare.disclosure.errors import CODES, SDJWTError
from credshare.foundation.checks import CHECK_LABELS
from credshare.foundation.errors import STAGES, CredshareError, InputError, NotFoundError, StoreError, in_stage
from tests.helpers import python_files, tree_of


def test_every_error_is_made_the_same_way_and_carries_its_stage() -> None:
    made = [
        (InputError("bad"), "input_invalid", "input"),
        (NotFoundError("gone"), "not_found", "input"),
        (StoreError("down", code="store_unavailable"), "store_unavailable", "store"),
        (InputError("bad", code="bundle_malformed", stage="trust_anchor"), "bundle_malformed", "trust_anchor"),
        (SDJWTError("no KB-JWT", code="kb_missing"), "kb_missing", "key_binding"),
        (SDJWTError(code="disclosure_duplicate"), "disclosure_duplicate", "disclosures"),
        (SDJWTError("x", code="jws_malformed", stage="key_binding"), "jws_malformed", "key_binding"),
        (SDJWTError(code="status_list_expired"), "status_list_expired", "status"),
        (AnchoringError("x", code="witness_malformed"), "witness_malformed", "witness_quorum"),
        (AnchoringError("x", code="note_signature_invalid"), "note_signature_invalid", "checkpoint_signature"),
        (AnchorError("x"), "anchor_malformed", "chain_anchor"),
        (AnchorPublishError("x", code="anchor_publish_timeout"), "anchor_publish_timeout", "chain_anchor"),
        (MerkleError("x"), "proof_unavailable", "log"),
    ]
    for exc, code, stage in made:
        assert isinstance(exc, CredshareError)
        assert (exc.code, exc.stage) == (code, stage), exc
    assert SDJWTError(code="expired").detail == CODES["expired"]
    assert SDJWTError("x", code="kb_missing").to_dict() == {"error": "kb_missing", "detail": "x"}


def test_a_core_error_names_its_rule_from_the_registry_and_a_stage_from_the_vocabulary() -> None:
    with pytest.raises(TypeError):
        SDJWTError("kb_missing")  # type: ignore[call-arg]  # the old (code, detail) order
    with pytest.raises(TypeError):
        AnchoringError("witness_malformed")
    with pytest.raises(ValueError):
        SDJWTError("x", code="no_such_rule")
    with pytest.raises(ValueError):
        AnchoringError("x", code="no_such_rule")
    with pytest.raises(ValueError):
        InputError("x", stage="nowhere")  # type: ignore[arg-type]


def test_every_code_has_a_stage_and_the_stages_include_every_check() -> None:
    assert set(disclosure_errors.STAGE_OF) == set(CODES)
    assert set(disclosure_errors.STAGE_OF.values()) | set(anchoring_errors.STAGE_OF.values()) <= STAGES
    assert set(CHECK_LABELS) <= STAGES


def test_in_stage_gives_what_is_raised_inside_the_stage_it_was_raised_in() -> None:
    with pytest.raises(SDJWTError) as caught, in_stage("key_binding"):
        raise SDJWTError(code="jws_malformed")
    assert (caught.value.code, caught.value.stage) == ("jws_malformed", "key_binding")
    with pytest.raises(KeyError), in_stage("key_binding"):
        raise KeyError("not ours: passes through")


def _all_error_classes() -> list[type[CredshareError]]:
    for info in pkgutil.walk_packages(credshare.__path__, "credshare."):
        if not info.name.endswith(("__main__", "server")):
            importlib.import_module(info.name)
    found, todo = [], [CredshareError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def test_every_error_class_has_a_stage_of_the_vocabulary() -> None:
    classes = _all_error_classes()
    assert len(classes) > 20
    assert [c.__qualname__ for c in classes if c.stage not in STAGES] == []


CORE_ERRORS = {"SDJWTError": set(CODES), "AnchoringError": set(anchoring_errors.STAGE_OF),
               "AnchorError": set(anchoring_errors.STAGE_OF), "AnchorPublishError": set(anchoring_errors.STAGE_OF),
               "MerkleError": set(anchoring_errors.STAGE_OF)}


def test_every_code_a_core_error_is_raised_with_is_registered() -> None:
    """Also catches a call in the old ``(code, detail)`` order: its code would be the detail."""
    found = []
    for rel in python_files(with_tests=True):
        if rel.name == "test_errors.py":
            continue
        for node in ast.walk(tree_of(rel)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CORE_ERRORS:
                codes = [k.value for k in node.keywords if k.arg == "code"]
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and first.value in CORE_ERRORS[node.func.id]:
                    found.append(f"{rel}:{node.lineno}: a code as the detail")
                found += [f"{rel}:{node.lineno}: {ast.unparse(c)}" for c in codes
                          if isinstance(c, ast.Constant) and c.value not in CORE_ERRORS[node.func.id]]
    assert found == []
