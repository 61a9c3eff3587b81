"""A local Azure Functions host for ``function_app.py`` (``tap365 serve``), for where Core Tools is missing.

See ``README.md`` in this folder. Entry points: :class:`connectors.localhost.host.LocalHost` and
:func:`connectors.localhost.host.serve`.
"""
