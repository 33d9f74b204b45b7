"""The owner's (physician's) side: accounts, server-side sessions, the encrypted vault and what
the wallet builds on them. Nothing here touches Flask; ``vault`` is pure cryptography (NaCl
SecretBox, Argon2id, HKDF) and ``accounts`` keeps accounts and sessions in the store.
"""
