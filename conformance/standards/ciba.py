"""OpenID CIBA Core 1.0, poll mode: the life of one backchannel authentication request.

Pure logic over an injectable clock, so every branch (pending, slow_down, denial, expiry)
is unit-tested without waiting; the simulated PSC wraps it in HTTP.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum

GRANT_TYPE = "urn:openid:params:grant-type:ciba"
# CIBA Core 1.0 §10.1: a token request with the CIBA grant carries the auth_req_id it redeems.
TOKEN_REQUEST_PARAMETERS = ("auth_req_id",)


class DeviceAction(StrEnum):
    """What the professional does on their authentication device (e-CPS app or CPx card)."""

    APPROVE = "approve"
    DENY = "deny"
    NEVER = "never"  # never answers: the request expires


@dataclass(frozen=True)
class DeviceBehaviour:
    action: DeviceAction = DeviceAction.APPROVE
    after_polls: int = 1  # answers once this many polls have been refused as pending
    # PSC answers slow_down to this many polls first, however spaced (CIBA Core 1.0 §11): it
    # provokes the back-off a client owes, which a well-behaved client would otherwise never meet.
    slow_down_polls: int = 0


class PollResult(StrEnum):
    APPROVED = "approved"
    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    ACCESS_DENIED = "access_denied"
    EXPIRED_TOKEN = "expired_token"
    INVALID_GRANT = "invalid_grant"  # already redeemed

    @property
    def continues(self) -> bool:
        """Whether the client is to keep polling after this answer.

        Only `authorization_pending` and `slow_down` ask it to (CIBA Core 1.0 §11); on any other
        error it MUST stop (RFC 8628 §3.5, the polling model CIBA takes up), and after the tokens
        there is nothing left to poll for.
        """
        return self in (PollResult.AUTHORIZATION_PENDING, PollResult.SLOW_DOWN)


@dataclass
class AuthenticationRequest:
    client_id: str
    login_hint: str
    scope: tuple[str, ...]
    acr_values: str | None
    binding_message: str | None
    channel: str | None
    created_at: float
    expires_in: int
    interval: float
    behaviour: DeviceBehaviour
    auth_req_id: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    polls: int = 0
    pending_answers: int = 0
    slow_down_answers: int = 0  # slow_down answered on the device's schedule (not for polling too fast)
    last_poll_at: float | None = None
    redeemed: bool = False
    poll_times: list[float] = field(default_factory=list)

    @property
    def expires_at(self) -> float:
        return self.created_at + self.expires_in

    def poll(self, now: float, *, tolerance_s: float, slow_down_increment_s: float) -> PollResult:
        """One token request for this auth_req_id (CIBA §10.1, §11; RFC 8628 §3.5 for slow_down)."""
        self.polls += 1
        self.poll_times.append(now)
        too_fast = self.last_poll_at is not None and now - self.last_poll_at < self.interval - tolerance_s
        self.last_poll_at = now
        if self.redeemed:
            return PollResult.INVALID_GRANT
        if now >= self.expires_at:
            return PollResult.EXPIRED_TOKEN
        if too_fast or self.slow_down_answers < self.behaviour.slow_down_polls:
            if not too_fast:
                self.slow_down_answers += 1
            self.interval += slow_down_increment_s
            return PollResult.SLOW_DOWN
        if self.pending_answers < self.behaviour.after_polls or self.behaviour.action is DeviceAction.NEVER:
            self.pending_answers += 1
            return PollResult.AUTHORIZATION_PENDING
        if self.behaviour.action is DeviceAction.DENY:
            return PollResult.ACCESS_DENIED
        self.redeemed = True
        return PollResult.APPROVED
