"""Process-wide interpreter state that third-party imports must not change.

py_ecc (imported by the BLS code and by web3) sets ``sys.setrecursionlimit(100000)`` on
import. Left so, a recursive C routine such as the JSON decoder can overflow the C stack and
kill the process (SIGSEGV) long before Python's limit is reached. Every import of such a
library goes through :func:`keep_recursion_limit`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def keep_recursion_limit() -> Iterator[None]:
    """Run the block (typically an import) and put the recursion limit back as it was."""
    limit = sys.getrecursionlimit()
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)
