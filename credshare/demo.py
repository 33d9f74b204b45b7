"""``credshare serve --demo``: example issuers, and a physician account holding credentials of
several types, so a newcomer can sign in and share a field within a minute.

Everything goes through the real services (issuers with their own keys, batch issuance into
the log, delivery to the wallet, full holder checks on acceptance). Running it again changes
nothing. The demo password is kept in the data directory (mode 0600) so it can be shown again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from credshare.compose import AppServices
from credshare.foundation.config import load_or_create_private_file
from credshare.foundation.errors import CredshareError

DEMO_EMAIL = "dr.demo@credshare.example"
PASSWORD_FILE = "demo-password.txt"


class _Discard:
    """The demo's credentials go to the wallet inbox; no files are written."""

    def write(self, credential: dict[str, Any]) -> None:
        return None


# (issuer id, issuer name, credential type, roster row)
DEMO_CREDENTIALS: list[tuple[str, str, str, dict[str, str]]] = [
    ("demo-school", "Demo University School of Medicine", "medical-degree", {
        "legal_name": "Jordan Avery Rivera", "given_name": "Jordan", "family_name": "Rivera",
        "former_names": "Jordan Avery Smith", "date_of_birth": "1990-06-14",
        "medical_school.name": "Demo University School of Medicine", "medical_school.city": "Springfield",
        "medical_school.country": "US", "medical_school.identifier": "F0009999", "degree": "MD", "program": "MD",
        "attendance_start": "2012-08-06", "attendance_end": "2016-05-21", "conferral_date": "2016-05-21",
        "accreditation": "LCME", "npi": "1234567893", "diploma_number": "DU-2016-0417", "honors": "AOA"}),
    ("demo-residency", "Demo Memorial Hospital Internal Medicine Residency", "graduate-medical-education", {
        "trainee_name": "Jordan Avery Rivera", "program_name": "Demo Memorial Internal Medicine Residency",
        "acgme_program_id": "1403621999", "sponsoring_institution": "Demo Memorial Hospital",
        "specialty": "Internal Medicine", "level": "resident", "pgy": "3", "start_date": "2016-07-01",
        "end_date": "2019-06-30", "program_director": "Dr. Morgan Lee", "completed_successfully": "yes",
        "probation": "no", "remediation": "no", "leave_of_absence": "no", "attestation_date": "2019-06-30"}),
    ("demo-board", "Demo State Board of Medicine", "medical-license", {
        "licensee_name": "Jordan Avery Rivera", "jurisdiction": "Demo State", "license_number": "MD-123456",
        "license_type": "full", "license_status": "active", "issue_date": "2019-07-15",
        "expiration_date": "2027-06-30", "disciplinary_actions": "no"}),
    ("demo-specialty-board", "Demo Board of Internal Medicine", "board-certification", {
        "diplomate_name": "Jordan Avery Rivera", "certifying_board": "Demo Board of Internal Medicine",
        "specialty": "Internal Medicine", "certification_status": "certified",
        "initial_certification_date": "2019-08-20", "expiration_date": "2029-12-31", "moc_participation": "yes"}),
]


@dataclass(frozen=True)
class Demo:
    email: str
    password: str
    credentials: int


def prepare_demo(svc: AppServices) -> Demo:
    password = load_or_create_private_file(svc.settings.data_dir / PASSWORD_FILE,
                                           lambda: secrets.token_urlsafe(12).encode()).decode().strip()
    if svc.accounts.has_account(DEMO_EMAIL):
        info = svc.accounts.sign_in(DEMO_EMAIL, password, "demo").info
        return Demo(DEMO_EMAIL, password, len(svc.wallet.entries(info)))
    info = svc.accounts.register(DEMO_EMAIL, password).info
    svc.accounts.mark_email_confirmed(info.account_id)  # example.org-style demo address: nobody reads its mail
    info = replace(info, email_verified=True)
    for issuer_id, name, slug, row in DEMO_CREDENTIALS:
        try:
            svc.issuers.get(issuer_id)
        except CredshareError:
            svc.issuers.create(issuer_id, name)
        svc.batches.issue(issuer_id, svc.types[slug], [(2, {**row, "email": DEMO_EMAIL})], _Discard())
    for offer in svc.wallet.offers(info):
        svc.wallet.accept_offer(info, offer["id"])
    return Demo(DEMO_EMAIL, password, len(svc.wallet.entries(info)))
