"""The rules Terraform's `kubernetes` backend applies to a state's names, and the default secret suffix.

The backend (Terraform 1.11, `internal/backend/remote-state/kubernetes`) stores workspace `W` of suffix
`S` in Secret `tfstate-W-S` (large states continue in `tfstate-W-S-part-1`, `-part-2`, …), locks it with Lease
`lock-tfstate-W-S`, and labels both `tfstateWorkspace=W`, `tfstateSecretSuffix=S`; it finds a state's
Secrets by those labels and writes them by name. So a pair (W, S) works only when all of these hold
(Terraform refuses a pair that breaks one of the first three on *every* run; the last is ours):

- S does not end in `-<number>` (`hasNumericSuffix`: the text after the last `-` parses with Go's
  `strconv.Atoi`, i.e. decimal digits whose value fits an int64) — that form is kept for the chunks;
- S and W are valid label values (at most 63 characters, alphanumeric at both ends);
- the Secret and Lease names are DNS-1123 subdomains (at most 253 characters);
- the Secret name is not that of another state's chunk (`…-part-<n>`: a numeric suffix in a workspace
  ending in `-part`), which the other state's writes would overwrite.

`backend_problems` says which rule a pair breaks (a run with such a pair is Stalled, never retried).
`default_secret_suffix` is the object's name whenever the pair passes — the names that worked before keep
their state Secret — and otherwise the name cut to fit plus `-tf` and 8 hex digits of its SHA-256,
which passes for every valid object name and workspace. An explicit `spec.backendConfig.secretSuffix` must
match `EXPLICIT_SUFFIX_PATTERN` (also the CRD's pattern), which refuses every `-<digits>` ending, even one
too long for an int64 that Terraform would let through: such a suffix is never what a user means.
"""

from __future__ import annotations

import hashlib
import re

LABEL_VALUE_MAX = 63
NAME_MAX = 253
LEASE_PREFIX = "lock-"
_INT64_MAX = 2**63 - 1
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# A DNS label whose part after the last '-' holds a letter (RE2 syntax: the CRD uses it as `pattern`).
EXPLICIT_SUFFIX_PATTERN = r"^([a-z0-9]+|[a-z0-9][-a-z0-9]*-[a-z0-9]*[a-z][a-z0-9]*)$"
EXPLICIT_SUFFIX_WHY = ("must be a DNS label (lower case letters, digits and '-') whose last '-' is followed by "
                       "at least one letter: Terraform's kubernetes backend refuses a secret_suffix ending in "
                       "'-<number>', the form it uses to number the chunks of a large state")
_EXPLICIT_SUFFIX = re.compile(EXPLICIT_SUFFIX_PATTERN)
_CHUNK_NAME = re.compile(r"-part-[0-9]+$")  # the backend's further Secrets of a large state
_HASH_TAG = "-tf"
_HASH_HEX = 8


def state_secret_name(workspace: str, suffix: str) -> str:
    return f"tfstate-{workspace}-{suffix}"


def terraform_refuses_suffix(suffix: str) -> bool:
    """Terraform's own check (`hasNumericSuffix`): the text after the last '-' is a Go `Atoi` number."""
    _, dash, tail = suffix.rpartition("-")
    digits = tail.removeprefix("+")  # after the last '-' no '-' sign can follow
    if not dash or not digits or not digits.isascii() or not digits.isdigit():
        return False
    return int(digits) <= _INT64_MAX


def backend_problems(workspace: str, suffix: str) -> list[str]:
    """Why Terraform's kubernetes backend would refuse workspace + suffix (empty: it accepts them)."""
    problems = []
    if not suffix:
        problems.append("the secret suffix is empty")
    elif terraform_refuses_suffix(suffix):
        problems.append(f"secret suffix {suffix!r} ends in '-<number>', which Terraform's kubernetes backend "
                        "refuses (it numbers the chunks of a large state that way)")
    for what, value in (("secret suffix", suffix), ("workspace", workspace)):
        if value and (len(value) > LABEL_VALUE_MAX or not _LABEL_VALUE.match(value)):
            problems.append(f"{what} {value!r} is not a valid label value (at most {LABEL_VALUE_MAX} characters, "
                            "alphanumeric at both ends), and the backend labels the state with it")
    secret = state_secret_name(workspace, suffix)
    if _CHUNK_NAME.search(secret):
        problems.append(f"state Secret name {secret!r} has the form of another state's chunk "
                        "(<state Secret>-part-<n>), which that state's writes would overwrite")
    lease = LEASE_PREFIX + secret
    if len(lease) > NAME_MAX or not _DNS_SUBDOMAIN.match(lease):
        problems.append(f"Lease name {lease!r} is not a DNS-1123 subdomain of at most {NAME_MAX} characters")
    return problems


def explicit_suffix_problem(suffix: str) -> str | None:
    """Why an explicit spec.backendConfig.secretSuffix is refused (the CRD pattern says the same)."""
    if len(suffix) > LABEL_VALUE_MAX:
        return f"must be at most {LABEL_VALUE_MAX} characters (it is a label value of the state Secret)"
    if not _EXPLICIT_SUFFIX.match(suffix):
        return EXPLICIT_SUFFIX_WHY
    return None


def default_secret_suffix(name: str, workspace: str = "default") -> str:
    """The object's name when the backend accepts it as the suffix (today's Secret names stay); otherwise
    `<name cut to fit>-tf<8 hex of sha256(name)>`, which it accepts for any valid name and workspace."""
    if not backend_problems(workspace, name):
        return name
    tag = _HASH_TAG + hashlib.sha256(name.encode()).hexdigest()[:_HASH_HEX]
    base = name[:LABEL_VALUE_MAX - len(tag)].rstrip("-.") or "state"
    return base + tag
