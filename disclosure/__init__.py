"""Selective disclosure core: RFC 9901 SD-JWT and the SD-JWT VC profile, plus the IETF Token
Status List. A pure library: bytes and dicts in, typed results or typed errors out; it imports
neither Flask nor the store."""
