"""The local stage's identities, as the deployed pool issues them: two customers, an operator, the machine.

A customer's access token carries `role: customer` and the customer it is bound to (`customer_id`), the
operator's `role: operator`, as the deployed pool's pre-token trigger adds them. `sub` is derived from the
username, so memory (keyed by `sub`) survives restarts. Passwords are generated on first start and kept in
`<state>/users.json` (mode 0600), which `scripts/invoke.py --local` reads.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from pathlib import Path

from local.lambda_context import LAMBDAS_DIR, load_handler
from local.oidc_issuer import User

ROLES = {
    "alice": {"role": "customer", "customer_id": "CUST-001", "cognito:groups": ["customers"]},
    "bob": {"role": "customer", "customer_id": "CUST-002", "cognito:groups": ["customers"]},
    "olivia": {"role": "operator", "cognito:groups": ["operators"]},
}
USERS_FILE = "users.json"


def local_users(state_dir: Path) -> dict[str, User]:
    """The users, with the passwords stored under `state_dir` (generated the first time)."""
    path = state_dir / USERS_FILE
    passwords = json.loads(path.read_text()) if path.exists() else {}
    if set(passwords) != set(ROLES):
        passwords = {name: passwords.get(name) or secrets.token_urlsafe(12) for name in ROLES}
        path.touch(mode=0o600)
        os.chmod(path, 0o600)
        path.write_text(json.dumps(passwords, indent=2))
    return {
        name: User(name, passwords[name], str(uuid.uuid5(uuid.NAMESPACE_URL, f"local-user:{name}")), claims)
        for name, claims in ROLES.items()
    }


def machine_claims() -> dict[str, str]:
    """What the deployed pool's pre-token trigger (V3) adds to the machine client's tokens."""
    return dict(load_handler(LAMBDAS_DIR / "pre_token").MACHINE_CLAIMS)
