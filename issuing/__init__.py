"""Issuing: issuers and their keys, credential types, rosters, batch issuance and status
lists. Application services over the pure cores (``disclosure``, ``anchoring``) and the
store; the CLI and the web layer call them."""
