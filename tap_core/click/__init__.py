"""Click-time protection: the analysis behind the redirector (pure; network only via a Fetcher)."""
