"""An independent reference for the C2SP formats the log speaks, written only from the texts of
c2sp.org/signed-note, tlog-checkpoint, tlog-cosignature, tlog-policy, tlog-tiles, tlog-proof and
RFC 9162 §2.1, with PyNaCl, hashlib and base64. It shares no code with the package it checks
(and must not import it: tests/test_c2sp_independent.py enforces that). It is written for
clarity, not speed, and takes the simplest correct route (recursion from the RFC's definitions,
reading every tile) where the package takes a fast one."""
