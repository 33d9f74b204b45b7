"""Roster typing (issue 10, item 20): a roster value is text, a number or a yes/no, never a JSON
object whose Python repr would end up inside a signed claim; ``credential_id`` is a bounded id of
safe characters; the dates of a degree or a training period come in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credshare.issuing.batch import read_row
from credshare.issuing.types import load_types
from tests.helpers import degree_row, run

TYPES = load_types()
DEGREE = TYPES["medical-degree"]


def _problems(ctype_slug: str, row: dict) -> list[str]:
    return read_row(TYPES[ctype_slug], row).problems


@pytest.mark.parametrize("value", [{"first": "Avery"}, ["Avery", "Quinn"], [{"a": 1}]])
def test_a_json_object_or_array_in_a_text_column_is_a_row_problem(value) -> None:
    row = read_row(DEGREE, degree_row(0, legal_name=value))
    assert any(p.startswith("legal_name:") for p in row.problems), row.problems
    assert "legal_name" not in row.claims


def test_json_scalars_read_as_their_json_text_not_a_python_repr() -> None:
    row = read_row(DEGREE, degree_row(0, diploma_number=12345, honors=True))
    assert not row.problems, row.problems
    assert row.claims["diploma_number"] == "12345"
    assert row.claims["honors"] == "true"  # never Python's "True"
    gme = TYPES["graduate-medical-education"]
    claims, problems = gme.claims_from_row({"completed_successfully": True, "probation": False, "pgy": 3})
    assert claims["completed_successfully"] is True and claims["probation"] is False and claims["pgy"] == 3
    assert not [p for p in problems if p.split(":")[0] in ("completed_successfully", "probation", "pgy")]


def test_a_list_column_takes_a_json_array_of_texts() -> None:
    ok = read_row(DEGREE, degree_row(0, former_names=["Avery Smith", "Avery Jones"]))
    assert ok.claims["former_names"] == ["Avery Smith", "Avery Jones"] and not ok.problems
    bad = read_row(DEGREE, degree_row(0, former_names=[{"name": "Avery Smith"}]))
    assert any(p.startswith("former_names:") for p in bad.problems)


@pytest.mark.parametrize("credential_id", ["x" * 129, "../../etc/passwd", "a b", "id\n", "", ".hidden", 42,
                                           {"id": 1}, "é"])
def test_a_credential_id_is_a_bounded_id_of_safe_characters(credential_id) -> None:
    row = degree_row(0, credential_id=credential_id)
    problems = _problems("medical-degree", row)
    if credential_id == "":
        assert not problems  # an empty cell: the server makes an id
    else:
        assert any(p.startswith("credential_id:") for p in problems), (credential_id, problems)


@pytest.mark.parametrize("credential_id", ["MD-2018-0001", "x" * 128, "urn:example:1", "a.b_c"])
def test_good_credential_ids_pass(credential_id: str) -> None:
    assert not _problems("medical-degree", degree_row(0, credential_id=credential_id))


@pytest.mark.parametrize("changes, column", [
    ({"attendance_end": "2018-06-01"}, "attendance_end"),  # after the conferral date 2018-05-20
    ({"attendance_start": "2018-05-21", "attendance_end": "2018-05-20"}, "attendance_start"),
])
def test_degree_dates_come_in_order(changes: dict, column: str) -> None:
    problems = _problems("medical-degree", degree_row(0, **changes))
    assert any(p.startswith(f"{column}:") for p in problems), problems


def test_training_dates_come_in_order() -> None:
    row = {"trainee_name": "Avery Quinn", "program_name": "Internal Medicine Residency", "acgme_program_id": "1403621001",
           "sponsoring_institution": "Example Hospital", "specialty": "Internal Medicine", "level": "resident",
           "start_date": "2021-07-01", "end_date": "2020-06-30", "program_director": "Dr. Lee",
           "completed_successfully": "yes", "probation": "no", "remediation": "no", "leave_of_absence": "no",
           "attestation_date": "2024-06-30"}
    assert any(p.startswith("start_date:") for p in _problems("graduate-medical-education", row))
    assert not _problems("graduate-medical-education", {**row, "end_date": "2024-06-30"})


def test_an_object_in_a_json_roster_refuses_the_roster_and_issues_nothing(tmp_path: Path, env, svc, issuer) -> None:
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps([degree_row(0), degree_row(1, legal_name={"given": "Avery", "family": "Quinn"})]))
    size = svc.log.head()[0]
    result = run(env, "issue", "--issuer", issuer, "--type", "medical-degree", str(roster), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["error"] == "roster_rejected" and body["rows"][0]["problems"][0].startswith("legal_name:")
    assert svc.log.head()[0] == size and svc.store.collection("credentials").count() == 0


def test_a_holder_jwk_that_is_not_an_object_is_a_row_problem() -> None:
    # nested 500 deep it is still decoded (no RecursionError under the default limit), deeper it is too long
    for value in ([1, 2], 7, "[1]", "{" * 5000, "[" * 500 + "]" * 500, "[" * 5000 + "]" * 5000):
        problems = _problems("medical-degree", degree_row(0, holder_jwk=value))
        assert any(p.startswith("holder_jwk:") for p in problems), (value, problems)
