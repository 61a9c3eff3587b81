"""Readers of raw input into the model: MIME and Graph messages, HTML, host names (and the
organisations behind them), IDN, dates, and the folding that makes look-alike text compare equal."""
