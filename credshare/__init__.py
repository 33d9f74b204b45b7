"""credshare: self-sovereign credential sharing with selective disclosure.

This package holds what every layer shares and nothing else: the error hierarchy
(:mod:`credshare.errors`), configuration from the environment (:mod:`credshare.config`)
and the ``credshare`` command line (:mod:`credshare.cli`). Importing it pulls in no web
framework and no database driver.
"""

__version__ = "0.1.0"
