"""tap_core: the pure pipelines of the targeted attack protection service.

Nothing here talks to Azure, Microsoft Graph or the network; I/O comes in through small
interfaces (stores, fetchers, feeds given as bytes) supplied by ``connectors``.
"""

__version__ = "0.1.0"
