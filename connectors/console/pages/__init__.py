"""Console pages: every module here is imported by :func:`connectors.console.app.load_pages` and
registers its handlers with ``@page`` (see ``connectors/console/README.md``)."""
