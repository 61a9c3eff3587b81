"""The admin console: server-rendered pages under ``/api/console`` (see README.md here)."""

from connectors.console.app import ConsoleApp, ConsoleRequest, ConsoleResponse

__all__ = ["ConsoleApp", "ConsoleRequest", "ConsoleResponse"]
