"""Tests use the project's Azurite launcher (see connectors/devstack/azurite.py)."""

from connectors.devstack.azurite import Azurite, AzuriteUnavailable, azurite, ensure_installed

__all__ = ["Azurite", "AzuriteUnavailable", "azurite", "ensure_installed"]
