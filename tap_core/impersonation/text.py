"""The text folding moved to :mod:`tap_core.parsing.text`, below the rule families, so that
look-alikes and impersonation share it without importing each other. This name is kept only
for :mod:`tap_core.click.rules.words` (``strip_marks``) until it imports from there."""

from tap_core.parsing.text import strip_marks

__all__ = ["strip_marks"]
