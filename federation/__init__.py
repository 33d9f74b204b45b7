"""Many organisations: whom this server trusts (trust lists), and evidence from other servers."""
