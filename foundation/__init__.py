"""The foundation every layer stands on, importing nothing else of credshare: the error
hierarchy with stable codes and stages (:mod:`.errors`), configuration from the environment
(:mod:`.config`), the strict JSON parser for outside input (:mod:`.strict_json`), key
derivation from the server secret (:mod:`.kdf`, RFC 5869 HKDF), sealing (:mod:`.sealing`),
base64 (:mod:`.b64`, RFC 4648), the one clock (:mod:`.clock`), the check and status types of a
verification (:mod:`.checks`), a bounded LRU (:mod:`.cache`) and the recursion-limit guard
(:mod:`.runtime`)."""
