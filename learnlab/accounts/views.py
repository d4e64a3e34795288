import logging
import smtplib

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.mail import send_mail
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from learnlab.accounts.forms import (
    EMAIL_TAKEN,
    PASSWORD_NEEDED,
    PASSWORD_WRONG,
    CanonicalPasswordResetForm,
    EmailForm,
    InstructorSignUpForm,
    SignUpForm,
    email_taken,
)
from learnlab.accounts.services import learner_sign_in
from learnlab.classroom.selectors import is_instructor
from learnlab.classroom.services import instructor_grant
from learnlab.lib.throttle import (
    client_address,
    minutes,
    throttle_clear,
    throttle_count,
    throttle_wait,
)
from learnlab.lib.urls import safe_next

log = logging.getLogger(__name__)

LOGIN_ACCOUNT, LOGIN_CLIENT = "login-account", "login-client"
SIGNUP_CLIENT = "signup-client"
SIGNUPS_REFUSED = "Too many accounts were created from this address. Try again in {wait}."
EMAIL_CHANGES_REFUSED = (
    "Too many addresses already in use were tried from this address. Try again in {wait}."
)
LOGINS_REFUSED = (
    "Too many failed sign-ins for this account or from this address. Try again in {wait}."
)


def _next(request) -> str:
    return safe_next(request, "/quiz/")


def _signup_wait(request) -> int:
    """Seconds before this client may create another account (0: now)."""
    limit = settings.LEARNLAB_SIGNUPS_PER_CLIENT
    return throttle_wait(SIGNUP_CLIENT, client_address(request), limit=limit)


def _signup_form(request, form_class=SignUpForm) -> tuple[SignUpForm, str]:
    """The sign-up form, and why it is refused unread ("" if it is not): past the client's
    limit, nothing is validated or hashed."""
    if request.method == "POST" and (wait := _signup_wait(request)):
        initial = {
            "username": request.POST.get("username", ""),
            "email": request.POST.get("email", ""),
        }
        return form_class(initial=initial), SIGNUPS_REFUSED.format(wait=minutes(wait))
    return form_class(request.POST or None), ""


def _signed_up(request, form: SignUpForm):
    user = form.save()
    throttle_count(SIGNUP_CLIENT, client_address(request))
    login(request, user)  # keeps the session's data, so the anonymous learner is known
    learner_sign_in(request=request, user=user)
    return user


def _count_taken(request, form) -> None:
    """A refusal that says an address is in use counts as a sign-up from this client, so a
    script learns at most LEARNLAB_SIGNUPS_PER_CLIENT answers a window."""
    if form.has_error("email", "email_taken"):
        throttle_count(SIGNUP_CLIENT, client_address(request))


@require_http_methods(["GET", "POST"])
def signup(request):
    form, refused = _signup_form(request)
    if not refused and request.method == "POST":
        if form.is_valid():
            _signed_up(request, form)
            return redirect(_next(request))
        _count_taken(request, form)
    context = {"form": form, "next": _next(request), "refused": refused}
    return render(request, "accounts/signup.html", context, status=429 if refused else 200)


def _account_key(form: AuthenticationForm, username: str) -> str:
    """The per-account throttle's key: the username as the form authenticates it (stripped and
    NFKC-normalised by Django's ``UsernameField``), case-folded, so every spelling that reaches
    an account (fullwidth, mathematical, any case) shares that account's count."""
    return form.fields["username"].to_python(username).casefold()


def _login_wait(request, username: str) -> int:
    """Seconds before this account, or this client, may try a password again (0: now)."""
    return max(
        throttle_wait(LOGIN_ACCOUNT, username, limit=settings.LEARNLAB_LOGIN_FAILURES_PER_ACCOUNT),
        throttle_wait(
            LOGIN_CLIENT,
            client_address(request),
            limit=settings.LEARNLAB_LOGIN_FAILURES_PER_CLIENT,
        ),
    )


@require_http_methods(["GET", "POST"])
def signin(request):
    """Log in; after too many wrong passwords for an account or from a client, every attempt
    (the right password too) is refused unchecked until the window ends."""
    form = AuthenticationForm(request, request.POST or None)
    context = {"next": _next(request)}
    status = 200
    if request.method == "POST":
        username = _account_key(form, request.POST.get("username", ""))
        if wait := _login_wait(request, username):  # the form is not validated: no hashing
            form = AuthenticationForm(request, initial={"username": request.POST["username"]})
            context["refused"] = LOGINS_REFUSED.format(wait=minutes(wait))
            status = 429
        elif form.is_valid():
            user = form.get_user()
            throttle_clear(LOGIN_ACCOUNT, username)
            login(request, user)
            learner_sign_in(request=request, user=user)
            return redirect(_next(request))
        else:
            throttle_count(LOGIN_ACCOUNT, username)
            throttle_count(LOGIN_CLIENT, client_address(request))
    return render(request, "accounts/login.html", {**context, "form": form}, status=status)


@require_POST
def signout(request):
    logout(request)
    return redirect("home")


@require_http_methods(["GET", "POST"])
def instructor_signup(request):
    if not settings.LEARNLAB_INSTRUCTOR_SIGNUP:
        return render(request, "accounts/instructor_signup_closed.html", {"section": "classroom"})
    form, refused = _signup_form(request, InstructorSignUpForm)
    if not refused and request.method == "POST":
        if form.is_valid():
            instructor_grant(user=_signed_up(request, form))
            return redirect("classroom:teach")
        _count_taken(request, form)
    context = {"section": "classroom", "form": form, "refused": refused}
    return render(
        request, "accounts/instructor_signup.html", context, status=429 if refused else 200
    )


def _email_change_notice(user, old: str, new: str) -> None:
    """Tell the old address that the reset link now goes elsewhere (or nowhere): the owner
    learns of a change they did not make while they can still sign in. A mailer that fails
    is logged; the change stands (it was made with the password)."""
    when = timezone.localtime().strftime("%Y-%m-%d %H:%M %Z")
    now_goes = f"now goes to {new}" if new else "now goes nowhere (the address was removed)"
    body = (
        f"The email address of your LearnLab account {user.username} was changed on {when}: "
        f"a password reset link {now_goes}, no longer to {old}.\n\n"
        "If you made this change, there is nothing to do.\n\n"
        "If you did not, someone signed in with your password: sign in, change your password "
        "and put your address back on Your account. If you cannot sign in any more, ask your "
        "instructor or the site's administrator for help.\n"
    )
    try:
        send_mail("Your LearnLab reset email changed", body, None, [old])
    except (smtplib.SMTPException, OSError):
        log.exception("the email-change notice to the old address could not be sent")


def _account_refusal(request, form: EmailForm) -> tuple[str, int]:
    """Check an email change (a valid form naming another address): the current password,
    then whether another account has the address. ("", 200) when it may be saved; else the
    page's refusal ("" when the form carries the error) and status. Wrong passwords count as
    failed sign-ins, in-use answers as sign-ups, each refused unchecked past its limit."""
    username = _account_key(AuthenticationForm(), request.user.username)
    if wait := _login_wait(request, username):  # no hashing past the limit
        return LOGINS_REFUSED.format(wait=minutes(wait)), 429
    password = form.cleaned_data.get("current_password") or ""
    if not password:
        form.add_error("current_password", PASSWORD_NEEDED)
        return "", 200
    if not request.user.check_password(password):
        throttle_count(LOGIN_ACCOUNT, username)
        throttle_count(LOGIN_CLIENT, client_address(request))
        form.add_error("current_password", PASSWORD_WRONG)
        return "", 200
    new = form.cleaned_data["email"]
    if new and email_taken(new, user=request.user):
        if wait := _signup_wait(request):
            return EMAIL_CHANGES_REFUSED.format(wait=minutes(wait)), 429
        throttle_count(SIGNUP_CLIENT, client_address(request))
        form.add_error("email", EMAIL_TAKEN)
        return "", 200
    return "", 200


@login_required
@require_http_methods(["GET", "POST"])
def account(request):
    """Your account: add, change or (a learner) remove the email address a password reset link
    goes to, with the current password (an instructor's address stays required). The old
    address is told of the change."""
    instructor = is_instructor(request.user)
    form = EmailForm(request.POST or None, instance=request.user, required=instructor)
    old = form.old_email
    saved, notified, refused, status = False, "", "", 200
    if request.method == "POST" and form.is_valid():
        if form.email_changed():
            refused, status = _account_refusal(request, form)
        if not refused and not form.errors:
            form.save()
            saved = True
            if old and form.email_changed():
                _email_change_notice(request.user, old, form.cleaned_data["email"])
                notified = old
    if not saved:
        request.user.email = old  # the form put the refused address on the instance
    context = {
        "form": form,
        "saved": saved,
        "notified": notified,
        "instructor": instructor,
        "refused": refused,
    }
    return render(request, "accounts/account.html", context, status=status)


PASSWORD_RESET_CLIENT = "password-reset-client"  # noqa: S105 - a throttle scope


class ThrottledPasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, with requests per client address limited
    (LEARNLAB_PASSWORD_RESETS_PER_CLIENT in the throttle window): each sends an email."""

    form_class = CanonicalPasswordResetForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def post(self, request, *args, **kwargs):
        limit = settings.LEARNLAB_PASSWORD_RESETS_PER_CLIENT
        if wait := throttle_wait(PASSWORD_RESET_CLIENT, client_address(request), limit=limit):
            form = self.get_form()
            context = self.get_context_data(form=form)
            context["refused"] = (
                f"Too many password resets were asked from this address. Try again in "
                f"{minutes(wait)}."
            )
            return self.render_to_response(context, status=429)
        throttle_count(PASSWORD_RESET_CLIENT, client_address(request))
        return super().post(request, *args, **kwargs)
