"""Impersonation Protect: display-name, lookalike-domain, reply-to, first-contact, threat-word and
authentication indicators; hits against the policy threshold pick the action.

Public API: :func:`assess_impersonation`, :class:`ImpersonationResult`, :func:`observe`,
:class:`ImpersonationPolicy`, :class:`Vip`, the :class:`Directory` and :class:`SenderHistory`
protocols, and the banner helpers in :mod:`tap_core.impersonation.banner`.
"""

from tap_core.impersonation.interfaces import Directory, InternalUser, SenderHistory, StaticDirectory
from tap_core.impersonation.policy import INDICATORS, ImpersonationAction, ImpersonationPolicy, Vip
from tap_core.impersonation.protect import ImpersonationResult, assess_impersonation, observe
from tap_core.model.decision import Action

__all__ = [
    "INDICATORS",
    "Action",
    "Directory",
    "ImpersonationAction",
    "ImpersonationPolicy",
    "ImpersonationResult",
    "InternalUser",
    "SenderHistory",
    "StaticDirectory",
    "Vip",
    "assess_impersonation",
    "observe",
]
