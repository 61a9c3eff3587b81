"""m365sim: a simulated Microsoft 365 tenant (Entra ID token endpoint + a Microsoft Graph mail subset).

Standalone dev/test tooling: it imports nothing from the project. Start it with
``python -m m365sim --port 0`` or in-process with :func:`m365sim.testing.run_sim`.
"""

__version__ = "0.1.0"
