"""SIEM events: one typed event per verdict, click, release, report and admin action
(:mod:`.events`), read per tenant from the records the service already writes; a pull API
compatible with Proofpoint TAP's SIEM API v2 (:mod:`.tap_api`) and a push to Microsoft Sentinel
through the Azure Monitor Logs Ingestion API (:mod:`.sentinel`). Neither is on the mail path."""
