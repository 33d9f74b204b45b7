"""credshare: self-sovereign credential sharing with selective disclosure.

This package's own folder is the roof: the composition root (:mod:`credshare.compose`), the
web application (:mod:`credshare.webapp`) and the entry points (the ``credshare`` command
line, the gunicorn server, the demo). Everything else sits below it in its own subpackage,
from ``credshare.foundation`` up to ``credshare.sharing``. Importing the package itself pulls
in nothing.
"""

__version__ = "0.1.0"
