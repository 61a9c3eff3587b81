"""Print infra/docs/settings.md: ``python -m tests.infra.settings_doc > infra/docs/settings.md``."""

from __future__ import annotations

from .code_settings import discover
from .test_settings import NOT_DEPLOYED, PENDING, PLATFORM

HEAD = """# App settings

Generated from the code by `python -m tests.infra.settings_doc > infra/docs/settings.md` (the
lists of exceptions are in `tests/infra/test_settings.py`, which fails when the templates drift
from the code). Both templates set every setting below except those marked "not deployed"; the
repository's README describes what each `TAP365_*` setting means. Every deployed service setting
has a template parameter of the same name (camelCase in Bicep, snake_case in Terraform) whose
default is the code's default, except `TAP365_REDIRECT_BASE_URL` and `TAP365_PUBLIC_BASE_URL`
(computed from the function host or `redirectorDomain`), `TAP365_STATE_DIR` (`/tmp/tap365`: Flex
Consumption has no persistent file share), `TAP365_GRAPH_CLIENT_ID` (the app registration),
`TAP365_RDAP_ENABLED` (off in code so that tests and `tap365 scan` stay offline; on in a
deployment, which may reach the registries) and the secrets (Key Vault references).

| setting | read by | in the templates |
|---|---|---|"""


def render() -> str:
    found = discover()
    rows = [HEAD]
    for name in sorted(set(found.names) | set(PLATFORM) | set(PENDING)):
        where = found.names.get(name, "Functions host" if name in PLATFORM else "(nothing yet)")
        if name in NOT_DEPLOYED:
            how = "not deployed: " + NOT_DEPLOYED[name]
        elif name in found.secrets:
            how = "Key Vault reference"
        elif name in PENDING:
            how = "deployed, pending: " + PENDING[name]
        elif name in PLATFORM:
            how = "platform: " + PLATFORM[name]
        else:
            how = "parameter or computed"
        rows.append(f"| `{name}` | `{where.removeprefix('connectors.')}` | {how} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
