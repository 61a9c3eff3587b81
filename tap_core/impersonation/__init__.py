"""Impersonation Protect: display-name, lookalike-domain, reply-to, first-contact, threat-word and
authentication indicators; hits against the policy threshold pick the action.

Public API: :func:`assess_impersonation`, :class:`ImpersonationResult`, :func:`observe`,
:class:`ImpersonationPolicy`, :class:`Vip`, the :class:`Directory` and :class:`SenderHistory`
protocols, and the banner helpers in :mod:`tap_core.impersonation.banner`.
"""

from typing import TYPE_CHECKING

from tap_core import lazy_exports

if TYPE_CHECKING:
    from tap_core.impersonation.interfaces import Directory, InternalUser, SenderHistory, StaticDirectory
    from tap_core.impersonation.policy import INDICATORS, ImpersonationAction, ImpersonationPolicy, Vip
    from tap_core.impersonation.protect import ImpersonationResult, assess_impersonation, observe
    from tap_core.model.decision import Action

#: Loaded on first use: importing one submodule must not load all of them (cold start).
__getattr__ = lazy_exports(__name__, {
    "Directory": "tap_core.impersonation.interfaces",
    "InternalUser": "tap_core.impersonation.interfaces",
    "SenderHistory": "tap_core.impersonation.interfaces",
    "StaticDirectory": "tap_core.impersonation.interfaces",
    "INDICATORS": "tap_core.impersonation.policy",
    "ImpersonationAction": "tap_core.impersonation.policy",
    "ImpersonationPolicy": "tap_core.impersonation.policy",
    "Vip": "tap_core.impersonation.policy",
    "ImpersonationResult": "tap_core.impersonation.protect",
    "assess_impersonation": "tap_core.impersonation.protect",
    "observe": "tap_core.impersonation.protect",
    "Action": "tap_core.model.decision",
})

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
