"""Login and roles in the app: Streamlit's OpenID Connect support (``st.login`` / ``st.user``, Authlib).

With an ``[auth]`` section in the app's secrets, every page asks for login before showing anything
(:func:`gate`, called by :func:`ui.bootstrap.run_app` before the page runs). Streamlit's login always
returns to the app's root URL, so the deep link a user opened — the exact view a review link names —
is kept in the tab's ``sessionStorage`` before the login and restored after it (a tiny component,
same-origin paths only). Roles come from :func:`diagnostics.access.load_policy` (``[embdiff.access]``
in the secrets, or the file named by ``$EMBDIFF_ACCESS``). Without ``[auth]`` the app runs open and
every review is ``identity: unverified``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import streamlit as st

from diagnostics._validation import InputError
from diagnostics.access import AccessPolicy, Identity, load_policy
from ui.safe import escape_markdown

__all__ = ["access_policy", "account_box", "auth_configured", "current_identity", "gate"]

_JS = """  // keeps the deep link across the login: sessionStorage["embdiff.after_login"]
export default function (component) {
  const { data } = component;
  const here = window.location.pathname + window.location.search;
  if (data.mode === "remember") {
    sessionStorage.setItem("embdiff.after_login", here);
    return;
  }
  const target = sessionStorage.getItem("embdiff.after_login");
  if (target === null) return;
  sessionStorage.removeItem("embdiff.after_login");
  // same origin only: a path, never a scheme or a protocol-relative URL
  if (target.startsWith("/") && !target.startsWith("//") && !target.includes("\\\\") && target !== here) {
    window.location.replace(target);
  }
}
"""
_DEEP_LINK = st.components.v2.component("embdiff.deep_link", html="<span></span>", js=_JS)


def _secrets() -> Mapping[str, Any]:
    """The app's secrets as plain dicts; empty when there are none (no file, no error shown)."""
    try:
        if not st.secrets.load_if_toml_exists():
            return {}
        plain: dict[str, Any] = _plain(st.secrets.to_dict())
        return plain
    except (OSError, st.errors.StreamlitSecretNotFoundError):
        return {}


def auth_configured() -> bool:
    """Whether the app's secrets have an ``[auth]`` section (then login is required)."""
    return isinstance(_secrets().get("auth"), Mapping)


def _providers() -> list[str | None]:
    """``[None]`` for one provider in ``[auth]``, else the names of ``[auth.NAME]`` sections."""
    section = _secrets().get("auth") or {}
    if "client_id" in section:
        return [None]
    return [name for name, value in section.items() if isinstance(value, Mapping) and "client_id" in value] or [None]


def current_identity() -> Identity | None:
    """The logged-in user as the provider asserted them, or None (open app, or not logged in)."""
    if not auth_configured() or not st.user.is_logged_in:
        return None
    claims = st.user.to_dict()
    return Identity.from_claims({k: claims.get(k) for k in ("sub", "email", "email_verified", "iss", "name")})


def access_policy() -> AccessPolicy | None:
    """The role policy when login is configured, None when the app runs open.

    Raises
    ------
    InputError
        The role config is malformed (the gate shows it and shows nothing else).
    """
    if not auth_configured():
        return None
    return load_policy(_secrets(), environ=os.environ)  # read on every run: an edited config applies at once


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def gate() -> bool:
    """Draw the login screen (and keep the deep link) unless the user may see the app. True: go on."""
    if not auth_configured():
        return True
    if not st.user.is_logged_in:
        _DEEP_LINK(data={"mode": "remember"}, key="embdiff-remember-link")
        st.title("embdiff")
        st.info("This embdiff server requires login. After logging in you land on the view your link named.",
                icon="🔒")
        for provider in _providers():
            label = "Log in" if provider is None else f"Log in with {provider}"
            if st.button(label, type="primary", key=f"login-{provider}"):
                st.login(provider) if provider else st.login()
        return False
    try:
        policy = access_policy()
    except InputError as err:
        st.error(escape_markdown(f"The access configuration is invalid: {err}"))
        return False
    identity = current_identity()
    if policy is None or identity is None or not policy.can_view(identity):
        who = identity.label if identity else "this account"
        st.title("embdiff")
        st.error(escape_markdown(f"Signed in as {who}, who is not among this server's viewers. "
                                 "Ask its operator for access."))
        if st.button("Log out"):
            st.logout()
        return False
    _DEEP_LINK(data={"mode": "restore"}, key="embdiff-restore-link")
    return True


def account_box() -> None:
    """Sidebar: who is signed in, in which role, and a log-out button (nothing in an open app)."""
    identity = current_identity()
    if identity is None:
        return
    policy = access_policy()
    role = "reviewer" if policy is not None and policy.can_review(identity) else "viewer"
    st.caption("Signed in")
    st.text(f"{identity.label}\n{role}")
    if st.button("Log out", key="embdiff-logout"):
        st.logout()
