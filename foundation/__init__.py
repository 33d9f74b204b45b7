"""The foundation every layer stands on, importing nothing else of credshare: the error
hierarchy with stable codes (:mod:`.errors`), configuration from the environment
(:mod:`.config`), the strict JSON parser for outside input (:mod:`.strict_json`), key
derivation from the server secret (:mod:`.kdf`, RFC 5869 HKDF), sealing (:mod:`.sealing`) and
the one clock (:mod:`.clock`)."""
