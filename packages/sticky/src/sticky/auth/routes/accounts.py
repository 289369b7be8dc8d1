"""Accounts over HTTP: sign up, verify the email, reset the password (JSON, and HTML forms)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from sticky.auth import accounts, pages
from sticky.auth.context import AuthDep, ClientIP
from sticky.auth.errors import AuthError, WeakPassword
from sticky.auth.models import Accepted, EmailOnly, ResetConfirm, SignUp, TokenOnly, UserOut
from sticky.auth.routes.views import body_schema, is_form, read_body, user_out
from sticky.kernel.service import json_response

router = APIRouter(prefix="/v1/auth", tags=["accounts"])

_INCOMPLETE_FORM = "The form was sent incomplete; open the link from the email again."


@router.post("/sign-up", status_code=201, response_model=UserOut)
async def sign_up(body: SignUp, auth: AuthDep) -> UserOut:
    """Create an account and send the email that verifies its address."""
    user = await accounts.sign_up(auth, body.name, body.email, body.password)
    return user_out(user)


@router.get("/verify-email", include_in_schema=False)
async def verify_email_page(token: str = "") -> Response:
    """The page behind the emailed link: a button that confirms the address."""
    return pages.verify_email(token)


@router.post("/verify-email", response_model=UserOut, openapi_extra=body_schema(TokenOnly))
async def verify_email(request: Request, auth: AuthDep) -> Response:
    """Confirm the email address with the token from the verification email."""
    form = is_form(request)
    try:
        body = await read_body(request, TokenOnly)
        user = await accounts.verify_email(auth, body.token)
    except AuthError as exc:
        if form:
            return pages.failed(exc.detail, exc.status)
        raise
    except RequestValidationError:
        if form:
            return pages.failed(_INCOMPLETE_FORM, 400)
        raise
    if form:
        return pages.done("Email confirmed", "Thank you: you can sign in to Sticky now.")
    return json_response(user_out(user).model_dump(mode="json", by_alias=True))


@router.post("/resend-verification", status_code=202, response_model=Accepted)
async def resend_verification(body: EmailOnly, auth: AuthDep, ip: ClientIP) -> Accepted:
    """Send the verification email again (the answer is the same whether or not it exists)."""
    await accounts.resend_verification(auth, body.email, ip)
    return Accepted()


@router.get("/password-reset", include_in_schema=False)
async def password_reset_page(token: str = "") -> Response:
    """The page behind the emailed link: a form to choose the new password."""
    return pages.reset_password(token)


@router.post("/password-reset", status_code=202, response_model=Accepted)
async def request_password_reset(body: EmailOnly, auth: AuthDep, ip: ClientIP) -> Accepted:
    """Email a password-reset link (the answer is the same whether or not the account exists)."""
    await accounts.request_password_reset(auth, body.email, ip)
    return Accepted()


@router.post(
    "/password-reset/confirm", response_model=UserOut, openapi_extra=body_schema(ResetConfirm)
)
async def confirm_password_reset(request: Request, auth: AuthDep) -> Response:
    """Set a new password with the token from the reset email; every session ends."""
    form = is_form(request)
    try:
        body = await read_body(request, ResetConfirm)
        user = await accounts.confirm_password_reset(auth, body.token, body.password)
    except WeakPassword as exc:
        if form:
            return pages.reset_password(body.token, exc.detail, exc.status)
        raise
    except AuthError as exc:
        if form:
            return pages.failed(exc.detail, exc.status)
        raise
    except RequestValidationError:
        if form:
            return pages.failed(_INCOMPLETE_FORM, 400)
        raise
    if form:
        return pages.done("Password changed", "Your new password is set: sign in with it now.")
    return json_response(user_out(user).model_dump(mode="json", by_alias=True))
