"""The message model at the bottom of tap_core: the message, findings and verdicts, the decision."""
