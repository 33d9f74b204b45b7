"""Whom this server trusts when it verifies: the operator's trust list file
(``CREDSHARE_TRUST_LIST``, verifier/trust_list.py), this server's own log, and the issuers
hosted here.

The file is read again whenever it changes (its size, mtime or inode), so ``credshare trust``
takes effect on the next verification without a restart. A file that no longer reads fails
closed: none of its entries is trusted until it is fixed (the problem is logged, and shown by
:meth:`TrustService.problem`), never the last good copy, which may name an issuer the operator
meant to remove.

The issuers hosted on this server are trusted as this server's operator created them, for
every credential type the server defines, unless the file names them itself (what the
operator wrote wins). A verifier-only server hosts none, so only its file counts.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterable

from credshare.verifier.trust_list import TrustedIssuer, TrustedLog, TrustList, TrustListError

log = logging.getLogger(__name__)
HOSTED_HERE = "this server's own list (the issuer is hosted here)"


class TrustService:
    def __init__(self, path: Path | None, own_log: TrustedLog, types: Iterable[str]) -> None:
        """``own_log``: this server's log and the policy it suggests (``GET /log/trust``);
        ``types``: the ``vct`` of every credential type this server defines."""
        self._path, self._own_log = path, own_log
        self._types = tuple(sorted(set(types)))
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._file = TrustList()
        self._problem = ""
        if path is not None:
            self._file = TrustList.from_text(path.read_bytes())  # at start, a bad file stops the server
            self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        assert self._path is not None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns, st.st_ino

    def _current_file(self) -> TrustList:
        if self._path is None:
            return self._file
        stamp = self._stamp()
        if stamp == self._seen:
            return self._file
        with self._lock:
            if stamp == self._seen:
                return self._file
            try:
                self._file, self._problem = TrustList.from_text(self._path.read_bytes()), ""
            except (OSError, TrustListError) as exc:
                self._file = TrustList()
                self._problem = f"the trust list {self._path} cannot be read: {getattr(exc, 'detail', None) or exc}"
                log.error("%s; trusting none of its entries until it is fixed", self._problem)
            self._seen = stamp
        return self._file

    def problem(self) -> str:
        """Why the trust list file is not in use now ('' when it is, or when there is none)."""
        self._current_file()
        return self._problem

    def trust_list(self) -> TrustList:
        """The file's logs and issuers, and this server's own log."""
        return self._current_file().with_logs([self._own_log])

    def for_issuer(self, iss: Any, hosted_name: str | None) -> TrustList:
        """:meth:`trust_list`, with the issuer of ``iss`` when it is hosted here (``hosted_name``,
        its display name, from :meth:`IssuerRegistry.hosted`; ``None`` when it is not)."""
        listed = self.trust_list()
        if hosted_name is None or not isinstance(iss, str) or listed.issuer(iss) is not None:
            return listed
        return listed.with_issuers([TrustedIssuer(id=iss, name=hosted_name, accreditation="", types=self._types,
                                                  log=self._own_log.origins[0], vouched_by=HOSTED_HERE)])
