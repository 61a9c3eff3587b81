"""URL Protect: extraction, unwrapping, normalisation, intelligence, heuristics, rewriting."""
