"""Readers of raw input into the model: MIME and Graph messages, HTML, host names, IDN, dates."""
