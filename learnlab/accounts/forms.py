"""The account forms: sign-up (learners and instructors) and the signed-in user's own email.

An email address is what Django's password reset sends its link to, so it is unique in any case
(``Ada@x.org`` and ``ada@x.org`` are one address) and a duplicate is refused without saying whose
account holds it. Before it is compared or stored an address is put in one spelling
(``canonical_email``): NFKC-normalised, its domain through IDNA and back, lower case, so the
spellings mail delivers to one mailbox (``ada@\uff58.org``, ``ada@xn--...``) are one address."""

import unicodedata

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

EMAIL_TAKEN = (
    "Another account already uses this email address. Sign in to that account, or reset its "
    "password from the sign-in page, or give another address."
)
LEARNER_EMAIL_HELP = (
    "Optional. Without one, a forgotten password cannot be reset: you can add it later on "
    "Your account."
)
INSTRUCTOR_EMAIL_HELP = "Required: where a password reset link is sent if you forget it."
EMAIL_DOMAIN_INVALID = (
    "This address's domain is not one mail can be sent to (check for a typo, or give another "
    "address)."
)
# messages, not passwords:
PASSWORD_NEEDED = "Enter your current password to change the email address."  # noqa: S105
PASSWORD_WRONG = "That is not this account's password. The email was not changed."  # noqa: S105


def canonical_email(email: str) -> str:
    """``email`` in the one spelling LearnLab compares and stores: NFKC-normalised (fullwidth
    and other compatibility characters become the ones mail is delivered by), the domain
    IDNA-encoded and decoded back (``xn--`` and Unicode spellings alike, with IDNA's own
    mapping of case and compatibility forms) in lower case. The local part keeps its case (the
    comparison ignores it). Raises ``ValidationError`` for a domain IDNA cannot encode."""
    email = unicodedata.normalize("NFKC", email.strip())
    if not email:
        return ""
    local, at, domain = email.rpartition("@")
    if not at:
        raise ValidationError("Enter a valid email address.", code="invalid")
    try:
        domain = domain.encode("idna").decode("idna").casefold()
    except UnicodeError as error:
        raise ValidationError(EMAIL_DOMAIN_INVALID, code="email_domain") from error
    email = f"{local}@{domain}"
    validate_email(email)  # what NFKC made of it is still an address
    return email


def email_taken(email: str, *, user=None) -> bool:
    """Whether another account (not ``user``) has this address, in any case."""
    others = get_user_model().objects.filter(email__iexact=email)
    if user is not None and user.pk is not None:
        others = others.exclude(pk=user.pk)
    return others.exists()


def _clean_email(form: forms.Form, user=None, *, check_taken: bool = True) -> str:
    email = canonical_email(form.cleaned_data.get("email") or "")
    if check_taken and email and email_taken(email, user=user):
        raise forms.ValidationError(EMAIL_TAKEN, code="email_taken")
    return email


class SignUpForm(UserCreationForm):
    """A learner's sign-up: username, an optional email, the password twice."""

    email_required = False
    email_help = LEARNER_EMAIL_HELP

    email = forms.EmailField(label="Email address", max_length=254)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = self.email_required
        self.fields["email"].help_text = self.email_help
        self.fields["email"].widget.attrs["autocomplete"] = "email"

    def clean_email(self) -> str:
        return _clean_email(self)


class InstructorSignUpForm(SignUpForm):
    """An instructor's sign-up: the email is required."""

    email_required = True
    email_help = INSTRUCTOR_EMAIL_HELP


class EmailForm(forms.ModelForm):
    """A signed-in user adds, changes or (a learner) removes their email address, giving their
    current password (a borrowed session alone cannot point the reset link elsewhere).

    The form checks the address's shape only; the view checks the password (throttled as a
    sign-in) and only then whether another account has the address (throttled as sign-ups),
    so neither a borrowed session nor a script learns whose address is registered."""

    current_password = forms.CharField(
        label="Current password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed to change the address.",
    )

    class Meta:
        model = get_user_model()
        fields = ("email",)
        labels = {"email": "Email address"}

    def __init__(self, *args, required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.old_email = self.instance.email
        field = self.fields["email"]
        field.required = required
        field.help_text = INSTRUCTOR_EMAIL_HELP if required else LEARNER_EMAIL_HELP.split(":")[0]
        field.widget.attrs["autocomplete"] = "email"

    def clean_email(self) -> str:
        return _clean_email(self, user=self.instance, check_taken=False)

    def email_changed(self) -> bool:
        """Whether the valid form names another address than the account's (any case)."""
        new = self.cleaned_data.get("email", "")
        return new.casefold() != (self.old_email or "").casefold()


class CanonicalPasswordResetForm(PasswordResetForm):
    """Django's reset form, the address looked up in the spelling accounts store it in; one
    no account could have is looked up as typed (finding nobody, answered alike)."""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        try:
            return canonical_email(email)
        except ValidationError:
            return email
