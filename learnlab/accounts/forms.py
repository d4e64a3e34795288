"""The account forms: sign-up (learners and instructors) and the signed-in user's own email.

An email address is what Django's password reset sends its link to, so it is unique in any case
(``Ada@x.org`` and ``ada@x.org`` are one address) and a duplicate is refused without saying whose
account holds it."""

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

EMAIL_TAKEN = (
    "Another account already uses this email address. Sign in to that account, or reset its "
    "password from the sign-in page, or give another address."
)
LEARNER_EMAIL_HELP = (
    "Optional. Without one, a forgotten password cannot be reset: you can add it later on "
    "Your account."
)
INSTRUCTOR_EMAIL_HELP = "Required: where a password reset link is sent if you forget it."


def email_taken(email: str, *, user=None) -> bool:
    """Whether another account (not ``user``) has this address, in any case."""
    others = get_user_model().objects.filter(email__iexact=email)
    if user is not None and user.pk is not None:
        others = others.exclude(pk=user.pk)
    return others.exists()


def _clean_email(form: forms.Form, user=None) -> str:
    email = get_user_model().objects.normalize_email(form.cleaned_data.get("email") or "").strip()
    if email and email_taken(email, user=user):
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
    """A signed-in user adds, changes or (a learner) removes their email address."""

    class Meta:
        model = get_user_model()
        fields = ("email",)
        labels = {"email": "Email address"}

    def __init__(self, *args, required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["email"]
        field.required = required
        field.help_text = INSTRUCTOR_EMAIL_HELP if required else LEARNER_EMAIL_HELP.split(":")[0]
        field.widget.attrs["autocomplete"] = "email"

    def clean_email(self) -> str:
        return _clean_email(self, user=self.instance)
