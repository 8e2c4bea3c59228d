"""Who may do what: identities and the role policy of a sign-off.

An :class:`Identity` is who recorded a review. A *verified* identity is what an OpenID Connect
provider asserted (subject, email, issuer) through the app's login; an *unverified* one is a name
typed into the open app or passed to ``embdiff reviews add`` — stored, shown and exported as
``identity: unverified``, never as someone's authority.

An :class:`AccessPolicy` is the one role config (``docs/DEPLOY.md``)::

    [embdiff.access]                          # in .streamlit/secrets.toml, or a file named by EMBDIFF_ACCESS
    viewers = ["*"]                           # "*" = any logged-in user; else emails and "@domain"s
    reviewers = ["ana@example.com", "@ml-leads.example.com"]
    approvals_required = 2                    # distinct reviewers for a sign-off

The engine enforces it (:meth:`AccessPolicy.require_reviewer`, called by
:func:`diagnostics.reviews.record_review`): the app hiding a button is a convenience, not the check.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from diagnostics._validation import InputError, check_file, display_path, short_error

__all__ = ["ACCESS_ENV", "AccessDenied", "AccessPolicy", "Identity", "load_policy"]

#: Environment variable naming a TOML file with an ``[embdiff.access]`` (or ``[access]``) table.
ACCESS_ENV = "EMBDIFF_ACCESS"
MAX_FIELD = 320  # an email address is at most 254 characters; subjects and issuers are URLs or ids
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^@[^@\s]+\.[^@\s]+$")
_KEYS = {"viewers", "reviewers", "approvals_required"}


class AccessDenied(PermissionError):
    """The identity does not hold the role the action needs. The message says which role and why."""


def _field(value: object, name: str) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > MAX_FIELD:
        raise InputError(f"identity {name} has {len(text)} characters; at most {MAX_FIELD} are allowed")
    if any(ord(c) < 32 for c in text):
        raise InputError(f"identity {name} contains control characters")
    return text


@dataclass(frozen=True)
class Identity:
    """Who acts. ``verified`` only when an identity provider asserted it (the app's login)."""

    subject: str
    email: str = ""
    issuer: str = ""
    name: str = ""
    verified: bool = False

    def __post_init__(self) -> None:
        for key in ("subject", "email", "issuer", "name"):
            object.__setattr__(self, key, _field(getattr(self, key), key))
        if not self.subject:
            raise InputError("identity has no subject: a verified login carries one; an unverified "
                             "reviewer needs a name or handle")

    @classmethod
    def unverified(cls, reviewer: str) -> Identity:
        """A name nobody vouched for (the open app's text field, ``embdiff reviews add``)."""
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise InputError("reviewer is empty: enter your name or handle before submitting a review")
        if len(reviewer) > 100:
            raise InputError(f"reviewer has {len(reviewer)} characters; at most 100 are allowed")
        return cls(subject=reviewer, name=reviewer, verified=False)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Identity:
        """The identity the provider asserted in its ID token (``st.user``): ``sub``, ``email``, ``iss``.

        An email the provider marks unverified (``email_verified: false``) is dropped: roles match emails,
        and some providers let users type any address.
        """
        unverified_email = claims.get("email_verified") in (False, "false", "False")
        email = "" if unverified_email else str(claims.get("email") or "")
        return cls(subject=str(claims.get("sub") or ""), email=email,
                   issuer=str(claims.get("iss") or ""), name=str(claims.get("name") or ""), verified=True)

    @property
    def key(self) -> str:
        """What makes two reviews the same reviewer: issuer and subject (verified) or the typed name."""
        return f"{self.issuer}|{self.subject}" if self.verified else f"unverified|{self.subject.casefold()}"

    @property
    def label(self) -> str:
        """How the reviewer is shown: their email (or subject) when verified, the typed name otherwise."""
        return (self.email or self.subject) if self.verified else self.subject


def _patterns(value: object, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise InputError(
            f"{where}: `{key}` must be a list of emails, \"@domain\"s or \"*\"; got {type(value).__name__}")
    out: list[str] = []
    for raw in value:
        item = raw.strip().lower()
        if item != "*" and not _EMAIL.fullmatch(item) and not _DOMAIN.fullmatch(item):
            raise InputError(
                f"{where}: `{key}` entry {raw[:60]!r} is neither an email, an \"@domain\" (\"@example.com\") "
                "nor \"*\" (any logged-in user)"
            )
        out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class AccessPolicy:
    """Roles of a login-protected app. Defaults: any logged-in user views and reviews, one approval."""

    viewers: tuple[str, ...] = ("*",)
    reviewers: tuple[str, ...] = ("*",)
    approvals_required: int = 1

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, where: str = "[embdiff.access]") -> AccessPolicy:
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise InputError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(_KEYS))}")
        n = table.get("approvals_required", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 20:
            raise InputError(f"{where}: `approvals_required` must be a whole number from 1 to 20; got {n!r}")
        return cls(
            viewers=_patterns(table.get("viewers", ["*"]), "viewers", where),
            reviewers=_patterns(table.get("reviewers", ["*"]), "reviewers", where),
            approvals_required=n,
        )

    @staticmethod
    def _matches(identity: Identity | None, patterns: tuple[str, ...]) -> bool:
        if identity is None or not identity.verified:
            return False
        if "*" in patterns:
            return True
        email = identity.email.lower()
        if not _EMAIL.fullmatch(email):
            return False
        return email in patterns or ("@" + email.rsplit("@", 1)[1]) in patterns

    def can_view(self, identity: Identity | None) -> bool:
        """Whether a logged-in identity may see runs (reviewers always may)."""
        return self._matches(identity, self.viewers) or self.can_review(identity)

    def can_review(self, identity: Identity | None) -> bool:
        """Whether an identity may approve or reject: verified, and listed among the reviewers."""
        return self._matches(identity, self.reviewers)

    def require_reviewer(self, identity: Identity | None) -> None:
        """Raise :class:`AccessDenied` unless ``identity`` may record a review."""
        if identity is None or not identity.verified:
            raise AccessDenied("this app requires login: a review must come from a logged-in reviewer")
        if not self.can_review(identity):
            raise AccessDenied(
                f"{identity.label} is not a reviewer: only {', '.join(self.reviewers)} may approve or reject "
                "(the reviewers list of the access config)"
            )


def load_policy(secrets: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
                ) -> AccessPolicy:
    """The role config: ``[embdiff.access]`` of the app's secrets, else the TOML file named by
    ``$EMBDIFF_ACCESS`` (its ``[embdiff.access]`` or ``[access]`` table), else the defaults.

    Raises
    ------
    InputError
        Both sources set (one config, not two), an unreadable file, or a malformed table.
    """
    env = os.environ if environ is None else environ
    embdiff = (secrets or {}).get("embdiff") or {}
    in_secrets = embdiff.get("access") if isinstance(embdiff, Mapping) else None
    path = env.get(ACCESS_ENV)
    if in_secrets is not None and path:
        raise InputError(f"roles are configured twice: in the secrets' [embdiff.access] and in {ACCESS_ENV}={path}; "
                         "keep one")
    if in_secrets is not None:
        if not isinstance(in_secrets, Mapping):
            raise InputError("[embdiff.access] in the secrets must be a table")
        return AccessPolicy.from_mapping(dict(in_secrets))
    if not path:
        return AccessPolicy()
    file = check_file(path, label=ACCESS_ENV)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputError(f"{ACCESS_ENV}: {display_path(file)} is not readable TOML ({short_error(err)})") from None
    table = (data.get("embdiff") or {}).get("access") if isinstance(data.get("embdiff"), dict) else None
    table = table if table is not None else data.get("access")
    if not isinstance(table, dict):
        raise InputError(f"{display_path(file)} has no [embdiff.access] or [access] table")
    return AccessPolicy.from_mapping(table, where=display_path(file))

