"""The WSGI entry point of a checkout: ``flask --app app run`` or ``gunicorn 'app:create_app()'``.

The application factory itself lives in the package (:func:`credshare.webapp.create_app`), so
that ``pip install .`` installs one import name, ``credshare``, and nothing generic.
"""

from credshare.webapp import create_app

__all__ = ["create_app"]
