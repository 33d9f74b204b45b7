"""The web layer: Flask blueprints and request plumbing. It reaches storage only through
the services ``app.py`` hands it (:mod:`sharing.context`)."""
