"""What can go wrong in auth, as domain errors; the HTTP layer turns them into problems.

The tree::

    AuthError
     ├── EmailTaken                  409 email-taken
     ├── WeakPassword                422 weak-password
     ├── InvalidCredentials          401 invalid-credentials
     ├── EmailNotVerified            403 email-not-verified
     ├── InvalidVerificationToken    400 invalid-verification-token
     ├── InvalidResetToken           400 invalid-reset-token
     ├── InvalidRefreshToken         401 invalid-refresh-token
     ├── RefreshTokenReused          401 refresh-token-reused
     ├── InvalidApiKey               401 invalid-api-key
     ├── InvalidServiceKey           401 invalid-service-key
     ├── TeamMemberExists            409 team-member-exists
     ├── TeamMemberNotFound          404 team-member-not-found
     ├── RateLimited                 429 rate-limited
     ├── SigningKeyUnavailable       503 unavailable
     ├── SigningKeyConflict          (internal: two processes added the same key generation)
     └── StoreUnavailable            503 unavailable
"""

from __future__ import annotations

from sticky.kernel.problems import FieldError, Problem, too_many_requests, unauthorized


class AuthError(Exception):
    """Root of every error the auth service raises on purpose."""

    status = 500
    slug = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def to_problem(self) -> Problem:
        if self.status == 401:
            return unauthorized(self.detail, self.slug)
        return Problem(self.status, self.slug, self.title, self.detail)


class EmailTaken(AuthError):
    status, slug, title = 409, "email-taken", "Email already registered"


class WeakPassword(AuthError):
    status, slug, title = 422, "weak-password", "Password too weak"

    def __init__(self, detail: str, field: str = "password") -> None:
        super().__init__(detail)
        self.field = field

    def to_problem(self) -> Problem:
        error = FieldError(self.field, self.detail, "weak_password")
        return Problem(self.status, self.slug, self.title, self.detail, errors=[error])


class InvalidCredentials(AuthError):
    status, slug, title = 401, "invalid-credentials", "Invalid credentials"


class EmailNotVerified(AuthError):
    status, slug, title = 403, "email-not-verified", "Email not verified"


class InvalidVerificationToken(AuthError):
    status, slug, title = 400, "invalid-verification-token", "Invalid verification token"


class InvalidResetToken(AuthError):
    status, slug, title = 400, "invalid-reset-token", "Invalid password-reset token"


class InvalidRefreshToken(AuthError):
    status, slug, title = 401, "invalid-refresh-token", "Invalid refresh token"


class RefreshTokenReused(AuthError):
    status, slug, title = 401, "refresh-token-reused", "Refresh token reused"


class InvalidApiKey(AuthError):
    status, slug, title = 401, "invalid-api-key", "Invalid API key"


class InvalidServiceKey(AuthError):
    status, slug, title = 401, "invalid-service-key", "Invalid service key"


class TeamMemberExists(AuthError):
    status, slug, title = 409, "team-member-exists", "Team member already exists"


class TeamMemberNotFound(AuthError):
    status, slug, title = 404, "team-member-not-found", "Team member not found"


class RateLimited(AuthError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def to_problem(self) -> Problem:
        return too_many_requests(self.detail, self.retry_after)


class SigningKeyUnavailable(AuthError):
    status, slug, title = 503, "unavailable", "Service unavailable"


class SigningKeyConflict(AuthError):
    """Another process added a signing key of the same generation first."""


class StoreUnavailable(AuthError):
    status, slug, title = 503, "unavailable", "Service unavailable"
