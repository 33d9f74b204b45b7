"""Blockcerts v2 and v3: verifying records issued with cert-issuer, offline (a pure core)."""
