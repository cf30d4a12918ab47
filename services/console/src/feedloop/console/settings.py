"""Console settings, read from FEEDLOOP_CONSOLE_* variables."""

import ipaddress
from typing import Literal, Self

from feedloop.common.auth import DEV_API_KEY
from feedloop.common.settings import ServiceSettings
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

Role = Literal["viewer", "owner", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "owner": 1, "admin": 2}

LOCAL_USER = "cx-lead"
LOCAL_PASSWORD = "feedloop-local"
LOCAL_SESSION_SECRET = "fl_dev_local_only_console_session_secret"


class ConsoleSettings(ServiceSettings):
    """Where the console finds the APIs, how it signs sessions and whom it trusts."""

    model_config = SettingsConfigDict(
        env_prefix="FEEDLOOP_CONSOLE_", frozen=True, extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "console"
    port: int = 8005
    api_docs: bool | None = Field(
        default=False, description="The console has pages, no API: no /docs by default."
    )
    prioritize_url: str = "http://127.0.0.1:8003"
    notify_url: str = "http://127.0.0.1:8004"
    solicit_url: str = Field(
        default="http://127.0.0.1:8006", description="Solicit's API (the Surveys page)."
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="The console's own key for prioritize and notify (scopes issues:read, "
        "issues:write, issues:resolve, notifications:read, notifications:admin); local mode "
        "defaults to the development key.",
    )
    notify_api_key: SecretStr | None = Field(
        default=None, description="A separate key for notify; default: api_key."
    )
    solicit_api_key: SecretStr | None = Field(
        default=None,
        description="A separate key for solicit (scope surveys:read); default: api_key.",
    )
    api_timeout_s: float = Field(default=10.0, gt=0, le=120)
    session_secret: SecretStr | None = Field(
        default=None, description="Signs the session cookie; required outside local mode."
    )
    session_max_age_s: int = Field(default=8 * 3600, ge=60)
    secure_cookies: bool | None = Field(
        default=None, description="Cookies only over HTTPS; default: outside local mode."
    )
    local_user: str = LOCAL_USER
    local_password: SecretStr = SecretStr(LOCAL_PASSWORD)
    local_role: Role = "admin"
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of the reverse proxy (oauth2-proxy) whose identity "
        "headers are believed; from anywhere else they are ignored.",
    )
    proxy_user_header: str = "X-Forwarded-Email"
    proxy_groups_header: str = "X-Forwarded-Groups"
    roles: dict[str, Role] = Field(
        default_factory=dict,
        description="Role per user or group name (the highest one a person has wins).",
    )
    default_role: Role | None = Field(
        default="viewer", description="Role of a proxy-authenticated person not in roles."
    )
    overview_weeks: int = Field(default=8, ge=1, le=52)
    overview_days: int = Field(default=14, ge=1, le=90)

    @property
    def local_login(self) -> bool:
        """True where the seeded login works: on a developer machine and in tests only."""
        return self.is_local

    @property
    def effective_api_key(self) -> str:
        """The key the console sends to the APIs."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return DEV_API_KEY

    @property
    def effective_notify_api_key(self) -> str:
        """The key the console sends to notify."""
        if self.notify_api_key is not None:
            return self.notify_api_key.get_secret_value()
        return self.effective_api_key

    @property
    def effective_solicit_api_key(self) -> str:
        """The key the console sends to solicit."""
        if self.solicit_api_key is not None:
            return self.solicit_api_key.get_secret_value()
        return self.effective_api_key

    @property
    def effective_session_secret(self) -> str:
        """The secret that signs session cookies."""
        if self.session_secret is not None:
            return self.session_secret.get_secret_value()
        return LOCAL_SESSION_SECRET

    @property
    def cookies_secure(self) -> bool:
        """True when cookies are marked Secure."""
        return not self.is_local if self.secure_cookies is None else self.secure_cookies

    def proxy_trusted(self, address: str | None) -> bool:
        """True when a request from this peer address may assert an identity by header."""
        if address is None:
            return False
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in ipaddress.ip_network(net, strict=False) for net in self.trusted_proxies)

    @model_validator(mode="after")
    def _safe_outside_local(self) -> Self:
        for net in self.trusted_proxies:
            ipaddress.ip_network(net, strict=False)  # a typo fails the start, not a login
        if not self.is_local:
            if self.api_key is None:
                raise ValueError("FEEDLOOP_CONSOLE_API_KEY is required outside local mode")
            if self.session_secret is None:
                raise ValueError("FEEDLOOP_CONSOLE_SESSION_SECRET is required outside local mode")
            if not self.trusted_proxies:
                raise ValueError(
                    "FEEDLOOP_CONSOLE_TRUSTED_PROXIES is required outside local mode "
                    "(people are identified by the reverse proxy there)"
                )
        keys = (self.api_key, self.notify_api_key, self.solicit_api_key)
        dev_key = any(k is not None and k.get_secret_value() == DEV_API_KEY for k in keys)
        if dev_key and not self.allows_dev_key:
            raise ValueError("the development API key is configured outside local mode")
        return self
