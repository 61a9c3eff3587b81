"""Sandbox providers: Speakeasy (PE emulation), box-js (JScript), CAPEv2 (REST) and a dispatcher."""
